"""DocumentService: document uploads straight to S3, their confirmation, decisions and deletion, all audited.

Uploads follow the flow every uploaded file shares (`backend.domain.upload.service`): a presigned form writes an
upload key nothing serves, and `complete` copies it to the document's own key and checks that copy (its size, and
PDF, JPEG or PNG by its first bytes) before the document is `pending`. A decision locks the document's row, then
checks its claim (`backend.domain.claims`), so a claim taken meanwhile is seen; a decision releases the claim.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.claims import service as claims
from backend.domain.document import repository
from backend.domain.document.schemas import (
    EXTENSIONS,
    DocumentDetailRead,
    DocumentUpdate,
    DocumentUploadCreate,
    DocumentUploadStarted,
)
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.identity import AuditContext
from backend.domain.member.models import DocumentStatus, DocumentType, UserDocument
from backend.domain.outbox.service import enqueue
from backend.domain.sessions import AsyncWriteSession
from backend.domain.upload.service import UploadFlow, UploadKind
from backend.infrastructure.storage import Storage

ENTITY = "document"
DOCUMENTS = UploadKind(noun="document", folder="documents", extensions=EXTENSIONS)
DECIDED = frozenset({DocumentStatus.pending, DocumentStatus.verified, DocumentStatus.rejected})
_AUDITED = (
    "user_id",
    "doc_type",
    "s3_key",
    "content_type",
    "status",
    "reason_code",
    "status_reason",
    "size_bytes",
    "deleted_at",
    "claimed_by",
    "claimed_until",
)


def _state(row: UserDocument) -> dict[str, object]:
    return {field: getattr(row, field) for field in _AUDITED}


async def abandoned_uploads(session: AsyncWriteSession, *, started_before: datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` documents still `uploading` that were started before `started_before`, oldest first, whether
    their member is live or soft-deleted; `DocumentService.abandon_upload` removes each."""
    return await repository.abandoned_uploads(session, started_before=started_before, limit=limit)


class DocumentService:
    """Operators' writes on member documents, each in the request's transaction with its audit row."""

    def __init__(
        self,
        session: AsyncWriteSession,
        context: AuditContext,
        storage: Storage,
        *,
        max_bytes: int,
        upload_ttl_seconds: int,
    ) -> None:
        self.session = session
        self.actor = context.actor
        self.audit = AuditTrail(session, context)
        self.uploads = UploadFlow(session, storage, DOCUMENTS, max_bytes=max_bytes, ttl_seconds=upload_ttl_seconds)

    async def start_upload(self, member_id: uuid.UUID, data: DocumentUploadCreate) -> DocumentUploadStarted:
        """A new `uploading` document, and the presigned form that uploads its file."""
        self.uploads.check_announced_size(data.size_bytes)
        if not await repository.lock_member(self.session, member_id):
            raise NotFoundError(f"No member with id {member_id}.")
        document_id = uuid.uuid4()
        row = UserDocument(
            id=document_id,
            user_id=member_id,
            doc_type=DocumentType(data.doc_type),
            s3_key=DOCUMENTS.served_key(member_id, document_id, data.content_type),
            content_type=data.content_type,
            status=DocumentStatus.uploading,
        )
        await repository.add(self.session, row)
        await self.audit.record("document.upload_started", ENTITY, row.id, changes(None, _state(row)))
        upload = await self.uploads.form(member_id, document_id, data.content_type)
        detail = DocumentDetailRead.model_validate(row).model_dump()
        return DocumentUploadStarted.model_validate({**detail, "upload": upload})

    async def complete(self, document_id: uuid.UUID) -> DocumentDetailRead:
        """Copy the upload to the document's own key, check the copy and move the document to `pending`: that
        copy is what is served from now on. 409 otherwise (the document stays `uploading`)."""
        row = await self._document(document_id, for_update=True)
        if row.status != DocumentStatus.uploading:
            raise ConflictError(
                f"The document is {row.status}; only an uploading document can be completed.",
                document_status=row.status,
            )
        size = await self.uploads.checked_copy(row)
        before = _state(row)
        row.status = DocumentStatus.pending
        row.size_bytes = size
        await repository.flush(self.session)
        await self.audit.record("document.completed", ENTITY, row.id, changes(before, _state(row)))
        await self.uploads.discard_upload(row, "document.completed")
        return DocumentDetailRead.model_validate(row)

    async def decide(self, document_id: uuid.UUID, data: DocumentUpdate) -> DocumentDetailRead:
        """Verify, or reject with a reason code: 409 for an upload not completed, or for a document someone else
        has claimed (an admin may `force`, which is audited). The decision releases the claim."""
        claims.check_force(self.actor, data.force)
        row = await self._document(document_id, for_update=True)
        if row.status not in DECIDED:
            raise ConflictError(
                f"The document is {row.status}; complete its upload before deciding on it.",
                document_status=row.status,
            )
        forced = await claims.check(self.session, row, self.actor, force=data.force)
        code = data.reason_code.value if data.reason_code is not None else None
        reason = data.reason
        status = DocumentStatus(data.status)
        if (row.status, row.reason_code, row.status_reason) == (status, code, reason) and not claims.holds(row):
            return DocumentDetailRead.model_validate(row)  # decided so already: nothing changes
        before = _state(row)
        row.status, row.reason_code, row.status_reason = status, code, reason
        released = claims.release(row)
        await repository.flush(self.session)
        diff = changes(before, _state(row))
        if forced:
            diff["claim_overridden"] = claims.overridden(released)
        await self.audit.record(f"document.{status.value}", ENTITY, row.id, diff)
        await enqueue(
            self.session,
            f"document.{status.value}",
            {
                "member_id": str(row.user_id),
                "document_id": str(row.id),
                "doc_type": row.doc_type,
                "reason_code": code,
                "reason": reason,
            },
        )
        return DocumentDetailRead.model_validate(row)

    async def delete(self, document_id: uuid.UUID) -> DocumentDetailRead:
        """Soft-delete the document and have the worker delete its objects."""
        row = await self._document(document_id, for_update=True)
        await self._remove(row, "document.deleted")
        return DocumentDetailRead.model_validate(row)

    async def abandon_upload(self, document_id: uuid.UUID, *, started_before: datetime) -> bool:
        """Remove a document whose upload began before `started_before` and was never completed, as `delete` does,
        whether its member is live or soft-deleted. False when, once locked, it turns out completed, deleted or
        younger: nothing changes then."""
        row = await repository.get_document(self.session, document_id, for_update=True, deleted_member_too=True)
        if row is None or row.status != DocumentStatus.uploading:
            return False
        if row.created_at is None or row.created_at >= started_before:
            return False
        await self._remove(row, "document.upload_abandoned")
        return True

    async def _remove(self, row: UserDocument, action: str) -> None:
        uploading = row.status == DocumentStatus.uploading
        before = _state(row)
        await repository.soft_delete(self.session, row)
        await self.audit.record(action, ENTITY, row.id, changes(before, _state(row)))
        await self.uploads.remove_objects(row, action, uploading=uploading)

    async def _document(self, document_id: uuid.UUID, *, for_update: bool) -> UserDocument:
        row = await repository.get_document(self.session, document_id, for_update=for_update)
        if row is None:
            raise NotFoundError(f"No document with id {document_id}.")
        return row
