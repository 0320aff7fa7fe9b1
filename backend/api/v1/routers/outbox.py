"""The outbox of side effects (admin role): what is pending, delivered or dead, and retrying the dead."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Path, Request, Response

from backend.api.deps import AuditContextDep, ReadSession, RequireAdmin, WriteSession
from backend.api.listing import ListSpec, decode_cursor, encode_cursor, list_headers, parse_list_params, typed_filters
from backend.domain.ordering import SortKey
from backend.domain.outbox import service as outbox_service
from backend.domain.outbox.schemas import OUTBOX_MULTI_VALUE, OUTBOX_SORT_FIELDS, OutboxEventRead, OutboxFilters

router = APIRouter(tags=["outbox"])

OUTBOX_LIST = ListSpec(filter_names=frozenset(OutboxFilters.model_fields), sort_fields=OUTBOX_SORT_FIELDS)
NEXT_CURSOR_HEADER = "X-Next-Cursor"
_LIST_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("sort", "limit", "offset", "cursor", "range", "filter", *sorted(OUTBOX_LIST.filter_names))
]


@router.get(
    "/outbox",
    response_model=list[OutboxEventRead],
    summary="List outbox events",
    openapi_extra={"parameters": _LIST_PARAMETERS},
)
async def list_outbox(
    request: Request, _: RequireAdmin, session: ReadSession, prefer: Annotated[str | None, Header()] = None
) -> Response:
    """Events filtered by `status` (pending, delivered, dead), `topic` or `id`; newest first."""
    params = parse_list_params(list(request.query_params.multi_items()), prefer, OUTBOX_LIST)
    filters = typed_filters(params, OutboxFilters, OUTBOX_MULTI_VALUE)
    descending = params.sort[0].descending if params.sort else True
    order = (SortKey("created_at", descending), SortKey("id", descending))
    after = decode_cursor(params.cursor, order) if params.cursor is not None else None
    query = outbox_service.build_query(
        filters, descending=descending, limit=params.limit, offset=params.offset, after=after
    )
    events, total, next_after = await outbox_service.list_events(session, query, count=params.count != "none")
    next_cursor = encode_cursor(next_after, order) if next_after else None
    headers = list_headers(
        resource="outbox",
        offset=params.offset,
        returned=len(events),
        total=total,
        limit=params.limit,
        url=str(request.url),
        next_cursor=next_cursor if params.cursor is not None else None,
    )
    if next_cursor is not None:
        headers[NEXT_CURSOR_HEADER] = next_cursor
    body = orjson.dumps([event.model_dump(mode="json") for event in events])
    return Response(body, media_type="application/json", headers=headers)


@router.post("/outbox/{event_id}/retry", summary="Retry a dead outbox event")
async def retry_outbox_event(
    event_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    _: RequireAdmin,
    session: WriteSession,
    context: AuditContextDep,
) -> OutboxEventRead:
    """Put a dead event back in the queue with a fresh count of attempts; 409 unless it is dead."""
    return await outbox_service.retry(session, context, event_id)
