"""The audit trail."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from backend.api.deps import AuditServiceDep
from backend.api.listing import ListSpec, cursor_key, openapi_parameters, page_response, parse_newest_first
from backend.domain.audit.schemas import AUDIT_MULTI_VALUE, AUDIT_SORT_FIELDS, AuditFilters, AuditRead

router = APIRouter(tags=["audit"])

AUDIT_LIST = ListSpec(filter_names=frozenset(AuditFilters.model_fields), sort_fields=AUDIT_SORT_FIELDS)
_LIST_PARAMETERS = openapi_parameters(AUDIT_LIST, AuditFilters)


async def _audit_page(
    request: Request,
    service: AuditServiceDep,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
) -> Response:
    page = parse_newest_first(request, AUDIT_LIST, AuditFilters, AUDIT_MULTI_VALUE)
    params = page.params
    query = service.build_query(
        page.filters,
        descending=page.descending,
        limit=params.limit,
        offset=params.offset,
        after=page.after,
        entity_type=entity_type,
        entity_id=entity_id,
    )
    entries, total, next_after = await service.list_entries(query, count=params.count != "none")
    return page_response(
        resource="audit",
        url=str(request.url),
        params=params,
        items=entries,
        total=total,
        next_after=next_after,
        order=page.order,
        key=cursor_key(request),
    )


@router.get(
    "/audit-log",
    response_model=list[AuditRead],
    summary="The audit trail",
    openapi_extra=_LIST_PARAMETERS,
)
async def audit_log(request: Request, service: AuditServiceDep) -> Response:
    """Who did what: filter by actor, action, entity and time; newest first."""
    return await _audit_page(request, service)


@router.get(
    "/members/{member_id}/audit",
    response_model=list[AuditRead],
    summary="A member's audit trail",
    openapi_extra=_LIST_PARAMETERS,
)
async def member_audit(
    member_id: uuid.UUID,
    request: Request,
    service: AuditServiceDep,
) -> Response:
    """Every recorded change to one member, newest first."""
    return await _audit_page(request, service, entity_type="member", entity_id=str(member_id))
