"""The file-type check `complete` makes on an upload's first bytes, for photos and (ready for them) documents."""

from __future__ import annotations

import pytest

from backend.domain.filetypes import DOCUMENT_TYPES, PHOTO_TYPES, SNIFF_BYTES, checked_type, describe, sniff
from devtools.samples import sample_jpegs, sample_pdfs
from tests.factories import HTML, WEBP, png_bytes

JPEG = sample_jpegs()[0]
PDF = next(iter(sample_pdfs().values()))

SAMPLES = {
    "image/jpeg": JPEG,
    "image/png": png_bytes(),
    "image/webp": WEBP,
    "application/pdf": PDF,
}

NOT_ACCEPTED = {
    "html": HTML,
    "html with a byte-order mark": b"\xef\xbb\xbf<html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    "RIFF that is not WebP (WAV)": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "WebP without its VP8 chunk": b"RIFF\x24\x00\x00\x00WEBPXXXX",
    "a truncated PNG signature": b"\x89PNG\r\n",
    "two bytes of JPEG": b"\xff\xd8",
    "PDF header after a blank line": b"\n%PDF-1.7",
    "empty": b"",
}


@pytest.mark.parametrize("content_type", sorted(SAMPLES))
def test_each_signature_is_recognised_from_the_first_bytes_only(content_type: str) -> None:
    sample = SAMPLES[content_type]
    assert sniff(sample) == content_type
    assert sniff(sample[:SNIFF_BYTES]) == content_type


@pytest.mark.parametrize("content", NOT_ACCEPTED.values(), ids=list(NOT_ACCEPTED))
def test_other_bytes_are_no_accepted_type(content: bytes) -> None:
    assert sniff(content[:SNIFF_BYTES]) is None


def test_photos_are_jpeg_png_and_webp_and_documents_pdf_jpeg_and_png() -> None:
    assert {"image/jpeg", "image/png", "image/webp"} == PHOTO_TYPES
    assert {"application/pdf", "image/jpeg", "image/png"} == DOCUMENT_TYPES


@pytest.mark.parametrize(("accepted", "name"), [(PHOTO_TYPES, "photos"), (DOCUMENT_TYPES, "documents")])
def test_a_file_passes_only_as_its_own_accepted_type(accepted: frozenset[str], name: str) -> None:
    for declared in sorted(SAMPLES):
        for actual, content in SAMPLES.items():
            expected = declared if declared == actual and declared in accepted else None
            assert checked_type(content[:SNIFF_BYTES], declared, accepted) == expected, (name, declared, actual)
        for content in NOT_ACCEPTED.values():
            assert checked_type(content, declared, accepted) is None


def test_a_document_check_refuses_webp_and_a_photo_check_refuses_pdf() -> None:
    assert checked_type(WEBP, "image/webp", DOCUMENT_TYPES) is None
    assert checked_type(PDF, "application/pdf", PHOTO_TYPES) is None
    assert checked_type(PDF, "application/pdf", DOCUMENT_TYPES) == "application/pdf"


def test_types_in_words() -> None:
    assert describe("image/png") == "a PNG image"
    assert describe("application/pdf") == "a PDF document"
    assert describe(None) == "none of the accepted types"
