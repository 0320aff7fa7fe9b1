"""The audit trail."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from backend.api.deps import AuditServiceDep
from backend.api.listing import NEWEST_FIRST, ListQuery, ListSpec, list_query
from backend.domain.audit.schemas import AUDIT_MULTI_VALUE, AUDIT_SORT_FIELDS, AuditFilters, AuditRead

router = APIRouter(tags=["audit"])

AUDIT_LIST = ListSpec(
    resource="audit",
    filters=AuditFilters,
    multi_value=AUDIT_MULTI_VALUE,
    sort_fields=AUDIT_SORT_FIELDS,
    default_sort=NEWEST_FIRST,
)
AuditListing = Annotated[ListQuery[AuditFilters], Depends(list_query(AUDIT_LIST))]


async def _audit_page(
    listing: ListQuery[AuditFilters],
    service: AuditServiceDep,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
) -> Response:
    query = service.build_query(
        listing.filters,
        descending=listing.descending,
        limit=listing.limit,
        offset=listing.offset,
        after=listing.after,
        entity_type=entity_type,
        entity_id=entity_id,
    )
    entries, total, next_after = await service.list_entries(query, count=listing.count != "none")
    return listing.respond(entries, total=total, next_after=next_after)


@router.get("/audit-log", response_model=list[AuditRead], summary="The audit trail")
async def audit_log(service: AuditServiceDep, listing: AuditListing) -> Response:
    """Who did what: filter by actor, action, entity and time; newest first."""
    return await _audit_page(listing, service)


@router.get("/members/{member_id}/audit", response_model=list[AuditRead], summary="A member's audit trail")
async def member_audit(member_id: uuid.UUID, service: AuditServiceDep, listing: AuditListing) -> Response:
    """Every recorded change to one member, newest first."""
    return await _audit_page(listing, service, entity_type="member", entity_id=str(member_id))
