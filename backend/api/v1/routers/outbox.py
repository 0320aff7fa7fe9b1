"""The outbox of side effects (admin role): what is pending, delivered or dead, and retrying the dead."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from backend.api.deps import AuditContextDep, ReadSession, RequireAdmin, WriteSession
from backend.api.listing import ListSpec, cursor_key, openapi_parameters, page_response, parse_newest_first
from backend.domain.outbox import service as outbox_service
from backend.domain.outbox.schemas import OUTBOX_MULTI_VALUE, OUTBOX_SORT_FIELDS, OutboxEventRead, OutboxFilters
from backend.domain.schemas import BIGINT_MAX, INT_TEXT

router = APIRouter(tags=["outbox"])

OUTBOX_LIST = ListSpec(filter_names=frozenset(OutboxFilters.model_fields), sort_fields=OUTBOX_SORT_FIELDS)
_LIST_PARAMETERS = openapi_parameters(OUTBOX_LIST, OutboxFilters)


@router.get(
    "/outbox",
    response_model=list[OutboxEventRead],
    summary="List outbox events",
    openapi_extra=_LIST_PARAMETERS,
)
async def list_outbox(request: Request, _: RequireAdmin, session: ReadSession) -> Response:
    """Events filtered by `status` (pending, delivered, dead), `topic` or `id`; newest first."""
    page = parse_newest_first(request, OUTBOX_LIST, OutboxFilters, OUTBOX_MULTI_VALUE)
    params = page.params
    query = outbox_service.build_query(
        page.filters, descending=page.descending, limit=params.limit, offset=params.offset, after=page.after
    )
    events, total, next_after = await outbox_service.list_events(session, query, count=params.count != "none")
    return page_response(
        resource="outbox",
        url=str(request.url),
        params=params,
        items=events,
        total=total,
        next_after=next_after,
        order=page.order,
        key=cursor_key(request),
    )


@router.post("/outbox/{event_id}/retry", summary="Retry a dead outbox event")
async def retry_outbox_event(
    event_id: Annotated[int, Path(ge=1, le=BIGINT_MAX), INT_TEXT],
    _: RequireAdmin,
    session: WriteSession,
    context: AuditContextDep,
) -> OutboxEventRead:
    """Put a dead event back in the queue with a fresh count of attempts; 409 unless it is dead."""
    return await outbox_service.retry(session, context, event_id)
