"""What a stored file is, read from its first bytes, never from what its uploader declared.

A Content-Type is whatever the client said. Before an uploaded file is served, its first SNIFF_BYTES bytes are
read back and matched against the signatures below (the patterns of the WHATWG MIME Sniffing Standard, section
"Matching an image type pattern" and the PDF signature), and the file is refused unless they name the type it
was uploaded as. Photos may be JPEG, PNG or WebP; documents PDF, JPEG or PNG.

This module imports nothing of the project: the photo and document domains both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Signature:
    """A file type's leading bytes: `pattern`, compared where `mask` has set bits (all of them when no mask)."""

    content_type: str
    pattern: bytes
    mask: bytes | None = None

    def matches(self, head: bytes) -> bool:
        if len(head) < len(self.pattern):
            return False
        if self.mask is None:
            return head.startswith(self.pattern)
        return all(b & m == p & m for b, p, m in zip(head, self.pattern, self.mask, strict=False))


SIGNATURES: Final = (
    Signature("image/jpeg", b"\xff\xd8\xff"),
    Signature("image/png", b"\x89PNG\r\n\x1a\n"),
    # "RIFF", a 4-byte chunk size (any), "WEBPVP": the first chunk of every WebP is VP8, VP8L or VP8X.
    Signature("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP", b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff"),
    Signature("application/pdf", b"%PDF-"),
)

SNIFF_BYTES: Final = max(len(signature.pattern) for signature in SIGNATURES)
"""How many leading bytes `sniff` needs."""

PHOTO_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp"})
DOCUMENT_TYPES: Final = frozenset({"application/pdf", "image/jpeg", "image/png"})

LABELS: Final = {"image/jpeg": "a JPEG image", "image/png": "a PNG image", "image/webp": "a WebP image"} | {
    "application/pdf": "a PDF document"
}


def sniff(head: bytes) -> str | None:
    """The type whose signature `head` (a file's first bytes) starts with, or None for none of them."""
    for signature in SIGNATURES:
        if signature.matches(head):
            return signature.content_type
    return None


def checked_type(head: bytes, declared: str, accepted: frozenset[str]) -> str | None:
    """`declared` when it is an accepted type and `head` is the start of a file of that type, else None."""
    return declared if declared in accepted and sniff(head) == declared else None


def describe(content_type: str | None) -> str:
    """A type in words, for a problem's detail."""
    if content_type is None:
        return "none of the accepted types"
    return LABELS.get(content_type, content_type)
