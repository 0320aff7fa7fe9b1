"""The outbox of side effects (admin role): what is pending, delivered or dead, and retrying the dead."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from backend.api.deps import AuditContextDep, ReadSession, RequireAdmin, WriteSession
from backend.api.listing import NEWEST_FIRST, ListQuery, ListSpec, list_query
from backend.domain.outbox import service as outbox_service
from backend.domain.outbox.schemas import OUTBOX_MULTI_VALUE, OUTBOX_SORT_FIELDS, OutboxEventRead, OutboxFilters
from backend.domain.schemas import BIGINT_MAX, INT_TEXT

router = APIRouter(tags=["outbox"])

OUTBOX_LIST = ListSpec(
    resource="outbox",
    filters=OutboxFilters,
    multi_value=OUTBOX_MULTI_VALUE,
    sort_fields=OUTBOX_SORT_FIELDS,
    default_sort=NEWEST_FIRST,
)
OutboxListing = Annotated[ListQuery[OutboxFilters], Depends(list_query(OUTBOX_LIST))]


@router.get("/outbox", response_model=list[OutboxEventRead], summary="List outbox events")
async def list_outbox(_: RequireAdmin, session: ReadSession, listing: OutboxListing) -> Response:
    """Events filtered by `status` (pending, delivered, dead), `topic` or `id`; newest first."""
    query = outbox_service.build_query(
        listing.filters, descending=listing.descending, limit=listing.limit, offset=listing.offset, after=listing.after
    )
    events, total, next_after = await outbox_service.list_events(session, query, count=listing.count != "none")
    return listing.respond(events, total=total, next_after=next_after)


@router.post("/outbox/{event_id}/retry", summary="Retry a dead outbox event")
async def retry_outbox_event(
    event_id: Annotated[int, Path(ge=1, le=BIGINT_MAX), INT_TEXT],
    _: RequireAdmin,
    session: WriteSession,
    context: AuditContextDep,
) -> OutboxEventRead:
    """Put a dead event back in the queue with a fresh count of attempts; 409 unless it is dead."""
    return await outbox_service.retry(session, context, event_id)
