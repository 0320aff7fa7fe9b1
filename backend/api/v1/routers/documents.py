"""Member documents: presigned uploads, their confirmation, decisions, deletion and the queue (moderator role)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from backend.api.bulk import BulkRunnerDep
from backend.api.deps import AuditContextDep, RequireModerator, SettingsDep, StorageDep, WriteSession, get_queue_service
from backend.api.listing import OLDEST_FIRST, ListSpec, ServedListQuery, list_query
from backend.domain.bulk import BulkAnswer
from backend.domain.claims.service import check_force
from backend.domain.document.schemas import (
    DocumentBulk,
    DocumentDetailRead,
    DocumentUpdate,
    DocumentUploadCreate,
    DocumentUploadStarted,
)
from backend.domain.document.service import DocumentService
from backend.domain.identity import AuditContext
from backend.domain.queue.schemas import (
    MULTI_VALUE_FILTERS,
    QUEUE_SORT_FIELDS,
    DocumentQueueFilters,
    DocumentQueueItem,
)
from backend.domain.queue.service import QueueService
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage

router = APIRouter(tags=["documents"])


def _document_service(
    session: AsyncWriteSession, context: AuditContext, storage: Storage, settings: Settings
) -> DocumentService:
    return DocumentService(
        session,
        context,
        storage,
        max_bytes=settings.document_max_bytes,
        upload_ttl_seconds=settings.document_upload_ttl_seconds,
    )


async def get_document_service(
    session: WriteSession, context: AuditContextDep, storage: StorageDep, settings: SettingsDep
) -> DocumentService:
    return _document_service(session, context, storage, settings)


async def get_document_services(
    context: AuditContextDep, storage: StorageDep, settings: SettingsDep
) -> Callable[[AsyncWriteSession], DocumentService]:
    """Document services on sessions a route opens itself (a bulk decision: a transaction per document)."""
    return lambda session: _document_service(session, context, storage, settings)


DocumentServiceDep = Annotated[DocumentService, Depends(get_document_service)]
DocumentServicesDep = Annotated[Callable[[AsyncWriteSession], DocumentService], Depends(get_document_services)]

DOCUMENT_QUEUE = ListSpec(
    resource="documents",
    filters=DocumentQueueFilters,
    multi_value=MULTI_VALUE_FILTERS,
    sort_fields=QUEUE_SORT_FIELDS,
    default_sort=OLDEST_FIRST,
)
DocumentQueue = Annotated[
    ServedListQuery[DocumentQueueFilters, QueueService],
    Depends(list_query(DOCUMENT_QUEUE, service=get_queue_service)),
]


@router.get("/documents", response_model=list[DocumentQueueItem], summary="The document queue")
async def document_queue(listing: DocumentQueue) -> Response:
    """Documents across members (`status=pending` for the verification queue), oldest first, each with its
    presigned URL, its member (id, name, status) and its claim; live documents of live members unless
    `include_deleted=true`. Exact totals, cursor paging via X-Next-Cursor."""
    page = await listing.service.documents(listing.filters, listing.page, listing.after)
    return listing.respond(page.items, total=page.total, next_after=page.next_cursor)


@router.post(
    "/members/{member_id}/documents",
    status_code=status.HTTP_201_CREATED,
    summary="Start a document upload",
)
async def start_document_upload(
    member_id: uuid.UUID, data: DocumentUploadCreate, _: RequireModerator, service: DocumentServiceDep
) -> DocumentUploadStarted:
    """A new `uploading` document and a presigned POST limited to its upload key, type and DOCUMENT_MAX_BYTES.

    The form writes the document's upload key (`upload.fields.key`), which is never served; `s3_key`, the object
    the document serves, is written only by `complete`."""
    return await service.start_upload(member_id, data)


@router.post("/documents/{document_id}/complete", summary="Confirm a document upload")
async def complete_document_upload(
    document_id: uuid.UUID, _: RequireModerator, service: DocumentServiceDep
) -> DocumentDetailRead:
    """Copy the upload to the document's own key and check that copy: 1 to DOCUMENT_MAX_BYTES bytes, and first
    bytes of the declared type (PDF, JPEG or PNG). Then the document is `pending`. 409 when the upload is missing
    or is not as announced (`problem`: `missing`, `size` or `content_type`); the document stays `uploading`."""
    return await service.complete(document_id)


@router.patch("/documents/{document_id}", summary="Verify or reject a document")
async def decide_document(
    document_id: uuid.UUID, data: DocumentUpdate, _: RequireModerator, service: DocumentServiceDep
) -> DocumentDetailRead:
    """`{"status": "verified"}`, or `{"status": "rejected", "reason_code": ..., "reason": ...}` (`reason` required
    for `other`). 409 naming the claimer when another operator has claimed the document (an admin may send
    `"force": true`); the decision releases the claim."""
    return await service.decide(document_id, data)


@router.patch("/documents", response_model=BulkAnswer, summary="Decide many documents at once")
async def bulk_decide_documents(
    data: DocumentBulk, actor: RequireModerator, services: DocumentServicesDep, runner: BulkRunnerDep
) -> BulkAnswer:
    """Verify, or reject with a reason code, up to 500 documents, each in a transaction of its own with the rules
    of the single decision: one result per id (`ok`, `conflict`, `not_found`, `claimed`, with the problem the
    single decision would answer) and a summary. With an Idempotency-Key a retry writes nothing twice."""
    check_force(actor, data.force)
    decision = DocumentUpdate.model_validate(data.model_dump(exclude={"ids"}, exclude_none=True))

    async def decide(session: AsyncWriteSession, document_id: uuid.UUID) -> None:
        await services(session).decide(document_id, decision)

    return await runner.run(data.ids, decide)


@router.delete("/documents/{document_id}", summary="Delete a document")
async def delete_document(
    document_id: uuid.UUID, _: RequireModerator, service: DocumentServiceDep
) -> DocumentDetailRead:
    """Soft-delete the document; its S3 objects are deleted by the outbox worker after the commit (an unfinished
    upload's upload key again once its form has expired)."""
    return await service.delete(document_id)
