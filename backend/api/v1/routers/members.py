"""Members: the list with every query style react-admin speaks, and the detail."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Request, Response

from backend.api.deps import MemberServiceDep
from backend.api.listing import (
    ListSpec,
    decode_cursor,
    encode_cursor,
    list_headers,
    parse_list_params,
    typed_filters,
)
from backend.domain.member.schemas import (
    MEMBER_SORT_FIELDS,
    MULTI_VALUE_FILTERS,
    MemberDetailRead,
    MemberFilters,
    MemberRead,
)
from backend.domain.member.service import total_order

router = APIRouter(prefix="/members", tags=["members"])

MEMBER_LIST = ListSpec(filter_names=frozenset(MemberFilters.model_fields), sort_fields=MEMBER_SORT_FIELDS)
NEXT_CURSOR_HEADER = "X-Next-Cursor"


@router.get(
    "",
    response_model=list[MemberRead],
    summary="List members",
    openapi_extra={
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in ("sort", "limit", "offset", "cursor", "range", "filter", *MEMBER_LIST.filter_names)
        ]
    },
)
async def list_members(
    request: Request,
    service: MemberServiceDep,
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Members matching the filters, one page, with the total in X-Total-Count and Content-Range."""
    params = parse_list_params(list(request.query_params.multi_items()), prefer, MEMBER_LIST)
    filters = typed_filters(params, MemberFilters, MULTI_VALUE_FILTERS)
    order = total_order(params.sort)
    after = decode_cursor(params.cursor, order) if params.cursor is not None else None
    query = service.build_query(filters, order, limit=params.limit, offset=params.offset, after=after)
    page = await service.list_members(query, params.count)
    next_cursor = encode_cursor(page.next_cursor, order) if page.next_cursor is not None else None
    headers = list_headers(
        resource="members",
        offset=params.offset,
        returned=len(page.items),
        total=page.total,
        limit=params.limit,
        url=str(request.url),
        next_cursor=next_cursor if params.cursor is not None else None,
    )
    if next_cursor is not None:
        headers[NEXT_CURSOR_HEADER] = next_cursor
    headers["Access-Control-Expose-Headers"] += f", {NEXT_CURSOR_HEADER}"
    if params.count == "estimated" and page.total is not None:
        headers["Preference-Applied"] = "count=estimated"
    body = orjson.dumps([item.model_dump(mode="json") for item in page.items])
    return Response(body, media_type="application/json", headers=headers)


@router.get("/{member_id}", response_model=MemberDetailRead, summary="Get a member with every relation")
async def get_member(member_id: uuid.UUID, service: MemberServiceDep) -> Response:
    """The member, its relations, and presigned URLs for its photos and documents; ETag from its version."""
    member = await service.get_member(member_id)
    return Response(
        orjson.dumps(member.model_dump(mode="json")),
        media_type="application/json",
        headers={"ETag": f'"{member.version}"'},
    )
