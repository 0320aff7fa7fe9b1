"""A member's data as a ZIP, streamed in constant memory: each photo and document is read from S3 chunk by chunk
and written into the archive as it arrives (stream-zip, deflate with data descriptors: no entry is held whole).

`member.json` comes last, so that it can say which files the archive holds (an object missing from the bucket is
listed as such rather than failing the whole export).
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from stream_zip import ZIP_64, async_stream_zip

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.errors import Gone, NotFoundError, ServiceUnavailable
from backend.domain.identity import AuditContext
from backend.domain.privacy import repository
from backend.domain.privacy.repository import StoredFile
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure.storage import Storage

ZIP_CHUNK_BYTES = 64 * 1024
FILE_MODE = 0o600
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}


def _fast_deflate() -> Any:
    # Photos and PDFs are compressed already: the cheapest level keeps the CPU per chunk small.
    return zlib.compressobj(level=1, wbits=-zlib.MAX_WBITS)


def archive_name(file: StoredFile, index: int) -> str:
    """A readable name inside the ZIP: photos/01-<id>.jpg, documents/identity-<id>.pdf."""
    extension = _EXTENSIONS.get(file.content_type or "") or file.s3_key.rpartition(".")[2] or "bin"
    if file.kind == "photo":
        return f"photos/{index:02d}-{file.id}.{extension}"
    return f"documents/{file.doc_type}-{file.id}.{extension}"


@dataclass
class MemberExport:
    """What a member's export holds, loaded in the request's transaction; the objects are read while streaming."""

    member_id: uuid.UUID
    data: dict[str, Any]
    files: list[tuple[str, StoredFile]]
    missing: list[str] = field(default_factory=list)

    @property
    def filename(self) -> str:
        return f"member-{self.member_id}.zip"


def _plain(row: Any) -> dict[str, Any]:
    values = dict(row)
    if isinstance(values.get("changes"), str | bytes):
        values["changes"] = orjson.loads(values["changes"])
    return values


class ExportService:
    def __init__(self, session: AsyncWriteSession, context: AuditContext, storage: Storage) -> None:
        self.session = session
        self.audit = AuditTrail(session, context)
        self.storage = storage

    async def prepare(self, member_id: uuid.UUID) -> MemberExport:
        """The member's rows (soft-deleted members too) and the audit row `member.exported`; 404 for no member,
        410 for an erased one, 503 when the bucket cannot be reached (checked before anything is sent)."""
        user = await repository.lock_member(self.session, member_id, share=True)
        if user is None:
            raise NotFoundError(f"No member with id {member_id}.")
        if user.erased_at is not None:
            raise Gone(f"The member {member_id} was erased: there is nothing to export.", erased_at=user.erased_at)
        data = await repository.export_member(self.session, member_id)
        assert data is not None  # the row is share-locked
        stored = await repository.member_files(self.session, member_id)
        kept = [f for f in stored if f.deleted_at is None and f.status != "uploading"]
        report_ids = await repository.member_report_ids(self.session, member_id)
        audit = await repository.audit_rows_about(self.session, member_id, [str(f.id) for f in stored], report_ids)
        photos = [f for f in kept if f.kind == "photo"]
        named = [(archive_name(f, i + 1), f) for i, f in enumerate(photos)]
        named += [(archive_name(f, 0), f) for f in kept if f.kind == "document"]
        data["audit"] = [_plain(row) for row in audit]
        try:
            await self.storage.check()
        except Exception as exc:  # any failure to reach the bucket
            raise ServiceUnavailable("S3 could not be reached for the member's files; try again.") from exc
        await self.audit.record("member.exported", "member", member_id, changes(None, {"files": len(named)}))
        return MemberExport(member_id, data, named)


def _member_json(export: MemberExport) -> bytes:
    files = [
        {
            "name": name,
            "kind": file.kind,
            "id": str(file.id),
            "doc_type": file.doc_type,
            "status": file.status,
            "content_type": file.content_type,
            "created_at": file.created_at.isoformat(),
            "in_archive": name not in export.missing,
        }
        for name, file in export.files
    ]
    document = {**export.data, "files": files, "exported_at": datetime.now(UTC).isoformat()}
    return orjson.dumps(document, default=str, option=orjson.OPT_INDENT_2)  # the driver's UUIDs as text


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _members(export: MemberExport, storage: Storage) -> AsyncIterator[Any]:
    for name, file in export.files:
        # A missing object is listed in member.json; a failing S3 ends the stream (a truncated answer).
        chunks = await storage.stream(file.s3_key, ZIP_CHUNK_BYTES)
        if chunks is None:
            export.missing.append(name)
            continue
        yield name, file.created_at, FILE_MODE, ZIP_64, chunks
    yield "member.json", datetime.now(UTC), FILE_MODE, ZIP_64, _once(_member_json(export))


def zip_stream(
    export: MemberExport, storage: Storage, deflate: Callable[[], Any] = _fast_deflate
) -> AsyncIterable[bytes]:
    """The ZIP's bytes, chunk by chunk, as S3 sends the objects."""
    return async_stream_zip(_members(export, storage), chunk_size=ZIP_CHUNK_BYTES, get_compressobj=deflate)
