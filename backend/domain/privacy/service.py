"""Data rights: erasing a member, and the identity-document access log.

An erasure runs in the request's transaction under the member's row lock, the lock every member write takes
first: an edit that got the lock before it is erased with the rest; one that comes after finds `erased_at` and is
refused (backend/domain/member/writes.py, `_locked`). Personal data lands in more places than the member's own
rows, and each is handled here: notes, reports, the audit trail's before/after values, outbox payloads and the
stored answers of Idempotency-Key requests. Objects in the bucket are deleted by the outbox after the commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.errors import ConflictError, NotFoundError, UnprocessableEntity
from backend.domain.identity import ActorKind, AuditContext
from backend.domain.member.models import DocumentType
from backend.domain.ordering import created_id_position
from backend.domain.outbox.service import enqueue, enqueue_object_deletion
from backend.domain.privacy import repository
from backend.domain.privacy.models import AccessLog
from backend.domain.privacy.repository import ERASED_TEXT, StoredFile
from backend.domain.privacy.schemas import AccessFilters, AccessRead, DocumentUrlRead, EraseRequest, ErasureRead
from backend.domain.sessions import AsyncReadSession, AsyncWriteSession
from backend.domain.timebounds import end_of, start_of
from backend.infrastructure.storage import Storage

# Keys of audit changes and outbox payloads whose values are never personal: ids, codes, statuses, times, keys.
# Every other value about an erased member is replaced (a whitelist: a field added later is redacted by default).
NOT_PERSONAL = frozenset(
    {
        "action",
        "actor",
        "author_id",
        "claim_overridden",
        "claimed_by",
        "claimed_until",
        "content_type",
        "created_at",
        "deleted_at",
        "display_order",
        "doc_type",
        "document_id",
        "erased",
        "filed_by",
        "files",
        "gender",
        "id",
        "kind",
        "member_id",
        "phone_blocked",
        "photo_id",
        "previous_status",
        "reason_code",
        "report_id",
        "reported_member_id",
        "reporter_member_id",
        "request_id",
        "resolved_at",
        "resolved_by",
        "s3_key",
        "size_bytes",
        "status",
        "suspended_until",
        "updated_at",
        "user_id",
        "version",
    }
)
_GONE_BODY = orjson.dumps(
    {
        "type": "about:blank",
        "title": "Gone",
        "status": 410,
        "detail": "The member this answer was about has been erased.",
    }
)


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) <= {"before", "after"}:  # an audit change
            return {key: None if inner is None else ERASED_TEXT for key, inner in value.items()}
        return redact(value)
    return None if value is None else ERASED_TEXT


def redact(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with every value outside NOT_PERSONAL replaced by "[erased]" (nulls stay null), nested too."""
    return {
        key: (redact(value) if isinstance(value, dict) else value) if key in NOT_PERSONAL else _redact_value(value)
        for key, value in values.items()
    }


def upload_key(member_id: uuid.UUID, file: StoredFile) -> str | None:
    """The key the file's upload form wrote (members/<member>/uploads/<id>.<ext>), from its own key's extension."""
    _, dot, extension = file.s3_key.rpartition(".")
    if not dot or not file.s3_key.startswith(f"members/{member_id}/"):
        return None  # a key shared between members (the demo seed's): not the member's to delete
    return f"members/{member_id}/uploads/{file.id}.{extension}"


async def deleted_before(session: AsyncWriteSession, *, before: datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` members soft-deleted before `before` and not erased yet (candidates for retention:
    `ErasureService.erase_if_deleted_before` locks and checks each again)."""
    return await repository.deleted_before(session, before=before, limit=limit)


class ErasureService:
    """Erasing a member's personal data, in the caller's transaction (a request's, or housekeeping's)."""

    def __init__(self, session: AsyncWriteSession, context: AuditContext) -> None:
        self.session = session
        self.context = context
        self.audit = AuditTrail(session, context)

    async def erase(self, member_id: uuid.UUID, data: EraseRequest) -> ErasureRead:
        """Erase the member (see the module's docstring); idempotent: a second erasure changes nothing."""
        if data.confirm != member_id:
            raise UnprocessableEntity("confirm must repeat the member's id.", field="confirm")
        user = await repository.lock_member(self.session, member_id)
        if user is None:
            raise NotFoundError(f"No member with id {member_id}.")
        if user.erased_at is not None:
            return ErasureRead(
                id=member_id, erased_at=user.erased_at, photos_removed=0, documents_removed=0, already_erased=True
            )
        return await self._erase(member_id, data.reason)

    async def erase_if_deleted_before(self, member_id: uuid.UUID, before: datetime, reason: str) -> bool:
        """Housekeeping's retention: erase the member if it is still soft-deleted since before `before` and not
        erased, and no other transaction holds it (SKIP LOCKED: the next pass looks again)."""
        user = await repository.lock_member(self.session, member_id, skip_locked=True)
        if user is None or user.erased_at is not None or user.deleted_at is None or user.deleted_at >= before:
            return False
        await self._erase(member_id, reason)
        return True

    async def _erase(self, member_id: uuid.UUID, reason: str) -> ErasureRead:
        files = await repository.member_files(self.session, member_id)
        file_ids = [str(file.id) for file in files]
        report_ids = await repository.member_report_ids(self.session, member_id)
        erased_at = await repository.erase_member_rows(self.session, member_id)
        for file in files:
            await self._delete_objects(member_id, file)
        await self._redact_history(member_id, file_ids, report_ids)
        photos = sum(1 for file in files if file.kind == "photo")
        diff = changes(None, {"erased": True, "photos_removed": photos, "documents_removed": len(files) - photos})
        diff["reason"] = {"before": None, "after": reason}
        await self.audit.record("member.erased", "member", member_id, diff)
        await enqueue(self.session, "member.erased", {"member_id": str(member_id)})
        return ErasureRead(
            id=member_id,
            erased_at=erased_at,
            photos_removed=photos,
            documents_removed=len(files) - photos,
            already_erased=False,
        )

    async def _delete_objects(self, member_id: uuid.UUID, file: StoredFile) -> None:
        context: dict[str, Any] = {f"{file.kind}_id": str(file.id), "member_id": str(member_id)}
        topic = f"{file.kind}.erased"
        if file.s3_key.startswith(f"members/{member_id}/"):
            await enqueue_object_deletion(self.session, file.s3_key, topic=topic, **context)
        if (key := upload_key(member_id, file)) is not None:
            await enqueue_object_deletion(self.session, key, topic=topic, **context)

    async def _redact_history(self, member_id: uuid.UUID, file_ids: list[str], report_ids: list[str]) -> None:
        """The audit trail keeps who did what and when; the personal values of its changes go. Likewise the
        outbox's payloads and the stored answers of Idempotency-Key requests."""
        rows = await repository.audit_rows_about(self.session, member_id, file_ids, report_ids)
        audit = [(row["id"], redact(_json(row["changes"]))) for row in rows]
        await repository.set_audit_changes(self.session, audit)
        events = await repository.outbox_rows_about(self.session, member_id)
        await repository.set_outbox_payloads(self.session, [(i, redact(_json(p))) for i, p in events])
        await repository.gone_idempotent_answers(self.session, member_id, _GONE_BODY)


def _json(value: Any) -> dict[str, Any]:
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return dict(loaded or {})


class DocumentAccess:
    """Issuing a document's URL; for an identity document a sensitive read, logged in the caller's transaction."""

    def __init__(self, session: AsyncWriteSession, context: AuditContext, storage: Storage) -> None:
        self.session = session
        self.context = context
        self.storage = storage

    async def record(self, document_id: uuid.UUID, member_id: uuid.UUID, doc_type: str) -> int | None:
        """The access row of an identity document's URL (None for other documents: nothing is logged)."""
        if doc_type != DocumentType.identity.value:
            return None
        actor = self.context.actor
        row = AccessLog(
            actor_type=actor.kind.value if actor.kind != ActorKind.anonymous else "unknown",
            actor_id=actor.id,
            document_id=document_id,
            member_id=member_id,
            doc_type=doc_type,
            request_id=self.context.request_id,
        )
        return (await repository.add_access(self.session, row)).id

    async def issue(self, document_id: uuid.UUID) -> DocumentUrlRead:
        """A short-lived attachment URL of a checked document of a live member, and its access row."""
        row = await repository.document_for_url(self.session, document_id)
        if row is None:
            raise NotFoundError(f"No document with id {document_id}.")
        if row["status"] == "uploading":
            raise ConflictError("The document's upload is not complete: there is no checked file to serve.")
        access_id = await self.record(document_id, row["user_id"], row["doc_type"])
        [url] = await self.storage.presign_documents([row["s3_key"]])
        return DocumentUrlRead(
            id=document_id,
            member_id=row["user_id"],
            doc_type=row["doc_type"],
            url=url,
            expires_in=self.storage.document_ttl_seconds,
            access_id=access_id,
        )


class AccessLogService:
    """Reads the identity-document access log."""

    def __init__(self, session: AsyncReadSession, tz: ZoneInfo) -> None:
        self.session = session
        self.tz = tz

    def build_query(
        self, filters: AccessFilters, *, descending: bool, limit: int, offset: int, after: list[Any] | None
    ) -> repository.AccessQuery:
        return repository.AccessQuery(
            member_ids=filters.member_id,
            document_ids=filters.document_id,
            actor_ids=filters.actor,
            created_from=start_of(filters.created_from, self.tz) if filters.created_from else None,
            created_before=end_of(filters.created_to, self.tz) if filters.created_to else None,
            descending=descending,
            limit=limit,
            offset=offset,
            after=created_id_position(after),
        )

    async def list_entries(
        self, query: repository.AccessQuery, *, count: bool
    ) -> tuple[list[AccessRead], int | None, list[Any]]:
        """A page of rows, the total when asked, and the cursor values of the last row of a full page."""
        rows = await repository.list_access(self.session, query)
        total = await repository.count_access(self.session, query) if count else None
        next_after: list[Any] = []
        if len(rows) == query.limit:
            next_after = [rows[-1]["created_at"].isoformat(), rows[-1]["id"]]
        return [AccessRead.model_validate(dict(row)) for row in rows], total, next_after
