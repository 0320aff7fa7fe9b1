"""The upload flow photos and documents share.

The file never passes through the API: an operator's client posts it to S3 with a presigned form whose policy
fixes the key, the Content-Type and the size range. That key is the item's *upload key*, which nothing serves.
`complete` copies the upload (server-side) to the item's own key, `s3_key`, stored as the declared type and with
no other metadata, then checks that copy: its size, and its first bytes against the declared type
(`backend.domain.filetypes`). Only a copy that passes becomes the `pending` item, and it is never written again:
no form names it, and nothing copies to an item that is no longer `uploading`. So what a moderator sees and
decides is exactly what is served, whatever is posted with the form afterwards.

The upload key is then discarded: deleted by the outbox at once, and again once the form has expired, since a late
POST can put it back. S3 objects are never deleted inside the transaction: a deletion is an outbox event the worker
carries out after the commit, so a rolled-back delete leaves the object in place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from backend.domain.errors import ConflictError, ServiceUnavailable, UnprocessableEntity
from backend.domain.filetypes import SNIFF_BYTES, checked_type, describe, sniff
from backend.domain.outbox.service import enqueue_object_deletion
from backend.domain.sessions import AsyncWriteSession
from backend.domain.upload.schemas import UploadForm
from backend.infrastructure.storage import Storage, StorageError

FORM_EXPIRY_MARGIN_SECONDS = 300
"""An upload key is deleted once more this long after its form expired (S3's clock may run behind ours)."""


@dataclass(frozen=True)
class UploadKind:
    """What is uploaded: its name, the folder of its served keys, and the types it may have (with their extension)."""

    noun: str  # "photo", "document": in keys' context, problems and outbox payloads (`photo_id`)
    folder: str  # members/<member>/<folder>/<id>.<ext>
    extensions: dict[str, str]  # accepted content type -> the key's extension

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self.extensions)

    def served_key(self, member_id: uuid.UUID, item_id: uuid.UUID, content_type: str) -> str:
        """The key of the object an item serves, written only by `complete`: members/<member>/<folder>/<id>.<ext>."""
        return f"members/{member_id}/{self.folder}/{item_id}.{self.extensions[content_type]}"

    def upload_key(self, member_id: uuid.UUID, item_id: uuid.UUID, content_type: str) -> str:
        """The key an item's upload form writes, never served: members/<member>/uploads/<id>.<ext>."""
        return f"members/{member_id}/uploads/{item_id}.{self.extensions[content_type]}"


class Uploaded(Protocol):
    """An uploaded item's row (a photo, a document)."""

    id: uuid.UUID
    user_id: uuid.UUID
    s3_key: str
    content_type: str | None
    created_at: datetime | None


class UploadFlow:
    """Forms, the checked copy and the discarding of upload keys for one kind of item, in the request's transaction."""

    def __init__(
        self, session: AsyncWriteSession, storage: Storage, kind: UploadKind, *, max_bytes: int, ttl_seconds: int
    ) -> None:
        self.session = session
        self.storage = storage
        self.kind = kind
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds

    def check_announced_size(self, size_bytes: int | None) -> None:
        """422 naming `size_bytes` when the client announces a file over the limit."""
        if size_bytes is not None and size_bytes > self.max_bytes:
            raise UnprocessableEntity(
                f"The file is {size_bytes} bytes; {self.kind.noun}s may be at most {self.max_bytes} bytes.",
                field="size_bytes",
                max_bytes=self.max_bytes,
            )

    async def form(self, member_id: uuid.UUID, item_id: uuid.UUID, content_type: str) -> UploadForm:
        """The presigned POST that writes the item's upload key, with that type and 1 to max_bytes bytes."""
        form = await self.storage.presign_post(
            self.kind.upload_key(member_id, item_id, content_type),
            content_type,
            self.max_bytes,
            expires_in=self.ttl_seconds,
        )
        return UploadForm(url=form.url, fields=form.fields, expires_at=form.expires_at, max_bytes=self.max_bytes)

    def upload_key_of(self, row: Uploaded) -> str | None:
        """The item's upload key (None for an item that never had an upload form)."""
        if row.content_type not in self.kind.extensions:
            return None
        return self.kind.upload_key(row.user_id, row.id, row.content_type)

    async def checked_copy(self, row: Uploaded) -> int:
        """Copy the upload to the item's own key and check the copy: its size (returned), and its type by its first
        bytes. 409 when it is missing or not as announced (`problem`: missing, size, content_type), 503 when S3
        cannot be reached. The caller holds the item's row lock, so no other completion copies meanwhile."""
        source = self.upload_key_of(row)
        declared = row.content_type or ""
        if source is None or declared not in self.kind.types:
            raise ConflictError(f"The {self.kind.noun}'s type {declared or '(none)'} is not one it may have.")
        try:
            # Nothing serves `s3_key` while the item is `uploading`, and the row lock keeps other completions out.
            copied = await self.storage.copy(source, row.s3_key, content_type=declared)
            head = await self.storage.read_head(row.s3_key, SNIFF_BYTES) if copied else None
        except StorageError as exc:
            raise ServiceUnavailable("S3 could not be reached to check the upload; try again.") from exc
        if head is None:
            raise ConflictError(
                f"No file has been uploaded for this {self.kind.noun} yet.", problem="missing", upload_key=source
            )
        # S3 enforced the upload policy's size range; this catches an object that reached the key some other way.
        if not 1 <= head.size <= self.max_bytes:
            raise ConflictError(
                f"The uploaded file is {head.size} bytes; {self.kind.noun}s must be 1 to {self.max_bytes} bytes.",
                problem="size",
                size_bytes=head.size,
                max_bytes=self.max_bytes,
            )
        # The policy fixed only the declared Content-Type, not what the bytes are.
        if checked_type(head.data, declared, self.kind.types) is None:
            detected = sniff(head.data)
            raise ConflictError(
                f"The uploaded file is not {describe(declared)}, as the upload was started for: "
                f"its first bytes are those of {describe(detected)}.",
                problem="content_type",
                content_type=declared,
                detected_type=detected,
            )
        return head.size

    async def remove_objects(self, row: Uploaded, topic: str, *, uploading: bool) -> None:
        """Have the outbox delete the item's objects after the commit: its own key (an uploading item's may hold
        the copy of a refused completion) and, for an upload never completed, its upload key now and after expiry."""
        await enqueue_object_deletion(self.session, row.s3_key, topic=topic, **self._context(row))
        if uploading:  # a completed item's upload key was discarded by its completion
            await self.discard_upload(row, topic)

    async def discard_upload(self, row: Uploaded, topic: str) -> None:
        """Have the outbox delete the item's upload key now and, while its form may still be posted (a late POST
        puts the key back), once more after the form has expired."""
        key = self.upload_key_of(row)
        if key is None:
            return
        context = self._context(row)
        await enqueue_object_deletion(self.session, key, topic=topic, **context)
        started = row.created_at or datetime.now(UTC)  # the form was signed in the transaction that set created_at
        form_gone = started + timedelta(seconds=self.ttl_seconds + FORM_EXPIRY_MARGIN_SECONDS)
        if form_gone > datetime.now(UTC):
            await enqueue_object_deletion(self.session, key, topic=topic, due_at=form_gone, **context)

    def _context(self, row: Uploaded) -> dict[str, Any]:
        return {f"{self.kind.noun}_id": str(row.id), "member_id": str(row.user_id)}
