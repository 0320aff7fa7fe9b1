"""Member data rights: the export (a streamed ZIP), the erasure, document URLs and the access log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse

from backend.api.deps import (
    AuditContextDep,
    ReadSession,
    RequireAdmin,
    RequireModerator,
    SettingsDep,
    StorageDep,
    WriteSession,
)
from backend.api.listing import NEWEST_FIRST, ListQuery, ListSpec, list_query
from backend.api.problems import GONE
from backend.domain.privacy.export import ExportService, zip_stream
from backend.domain.privacy.schemas import (
    ACCESS_MULTI_VALUE,
    ACCESS_SORT_FIELDS,
    AccessFilters,
    AccessRead,
    DocumentUrlRead,
    EraseRequest,
    ErasureRead,
)
from backend.domain.privacy.service import AccessLogService, DocumentAccess, ErasureService

router = APIRouter(tags=["data rights"])

ACCESS_LIST = ListSpec(
    resource="access-log",
    filters=AccessFilters,
    multi_value=ACCESS_MULTI_VALUE,
    sort_fields=ACCESS_SORT_FIELDS,
    default_sort=NEWEST_FIRST,
)
AccessListing = Annotated[ListQuery[AccessFilters], Depends(list_query(ACCESS_LIST))]


async def get_erasure_service(session: WriteSession, context: AuditContextDep) -> ErasureService:
    return ErasureService(session, context)


async def get_export_service(session: WriteSession, context: AuditContextDep, storage: StorageDep) -> ExportService:
    return ExportService(session, context, storage)


async def get_document_access(session: WriteSession, context: AuditContextDep, storage: StorageDep) -> DocumentAccess:
    return DocumentAccess(session, context, storage)


async def get_access_log_service(session: ReadSession, settings: SettingsDep) -> AccessLogService:
    return AccessLogService(session, settings.tz)


@router.get(
    "/members/{member_id}/export",
    summary="Export a member's data (ZIP)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "member.json, photos/, documents/"}, **GONE},
)
async def export_member(
    member_id: uuid.UUID,
    _: RequireAdmin,
    service: Annotated[ExportService, Depends(get_export_service)],
    storage: StorageDep,
) -> StreamingResponse:
    """Everything held about the member (soft-deleted ones too) as a ZIP streamed in constant memory: member.json
    (the member, its relations, notes and decisions, reports about it, its audit rows) and every photo and
    document from S3. Audited as member.exported; 410 once the member was erased."""
    export = await service.prepare(member_id)
    return StreamingResponse(
        zip_stream(export, storage),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.post("/members/{member_id}/erase", response_model=ErasureRead, summary="Erase a member's personal data")
async def erase_member(
    member_id: uuid.UUID,
    data: EraseRequest,
    _: RequireAdmin,
    service: Annotated[ErasureService, Depends(get_erasure_service)],
) -> ErasureRead:
    """Personal fields nulled or replaced, photos and documents removed (their objects deleted by the outbox),
    personal values in the audit trail, outbox and stored answers redacted; `confirm` repeats the id. Idempotent;
    an erased member cannot be restored, edited or decided (409) nor exported (410)."""
    return await service.erase(member_id, data)


@router.post("/documents/{document_id}/url", response_model=DocumentUrlRead, summary="Open a document")
async def document_url(
    document_id: uuid.UUID,
    _: RequireModerator,
    access: Annotated[DocumentAccess, Depends(get_document_access)],
) -> DocumentUrlRead:
    """A presigned URL of the document, served as an attachment for DOCUMENT_URL_TTL_SECONDS; for an identity
    document the issue is written to the access log in the same transaction."""
    return await access.issue(document_id)


@router.get("/access-log", response_model=list[AccessRead], summary="Who opened which identity document")
async def access_log(
    _: RequireAdmin,
    service: Annotated[AccessLogService, Depends(get_access_log_service)],
    listing: AccessListing,
) -> Response:
    """Every URL issued for an identity document: by whom, for which document and member, in which request;
    newest first; filters member_id, document_id, actor, created_from/created_to."""
    query = service.build_query(
        listing.filters,
        descending=listing.descending,
        limit=listing.limit,
        offset=listing.offset,
        after=listing.after,
    )
    entries, total, next_after = await service.list_entries(query, count=listing.count != "none")
    return listing.respond(entries, total=total, next_after=next_after)
