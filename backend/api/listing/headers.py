"""A list's answer: the bare JSON array and its headers (X-Total-Count, Content-Range, Link, X-Next-Cursor)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from backend.api.listing.cursors import JSONScalar, encode_cursor
from backend.api.listing.params import PAGING_PARAMS, ListParams
from backend.domain.ordering import SortKey

EXPOSED_HEADERS = "X-Total-Count, Content-Range, Link"
NEXT_CURSOR_HEADER = "X-Next-Cursor"


def list_headers(
    *,
    resource: str,
    offset: int,
    returned: int,
    total: int | None,
    limit: int,
    url: str,
    next_cursor: str | None,
    prev_cursor: str | None = None,
) -> dict[str, str]:
    """Build a list answer's headers: X-Total-Count, Content-Range, Link and their CORS exposure."""
    headers = {"Access-Control-Expose-Headers": EXPOSED_HEADERS}
    total_text = "*" if total is None else str(total)
    if total is not None:
        headers["X-Total-Count"] = total_text
    if returned == 0:
        headers["Content-Range"] = f"{resource} */{total_text}"
    else:
        headers["Content-Range"] = f"{resource} {offset}-{offset + returned - 1}/{total_text}"

    # The URL is read once: whether it pages by cursor, and the parameters every link keeps.
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) if parts.query else []
    links: list[tuple[str, dict[str, str]]] = []
    if next_cursor is not None or prev_cursor is not None or any(k == "cursor" and v for k, v in query):
        if next_cursor is not None:
            links.append(("next", {"cursor": next_cursor, "limit": str(limit)}))
        if prev_cursor is not None:
            links.append(("prev", {"cursor": prev_cursor, "limit": str(limit)}))
    else:
        # Without a total, a full page is the only hint that more rows may follow.
        more = offset + returned < total if total is not None else returned >= limit
        if returned > 0 and more:
            links.append(("next", {"offset": str(offset + returned), "limit": str(limit)}))
        if offset > 0:
            # Past the end, "prev" points at the last page rather than at another empty one.
            end = offset if total is None else min(offset, total)
            links.append(("prev", {"offset": str(max(0, end - limit)), "limit": str(limit)}))
    if links:
        # The request URL with its paging parameters replaced, every other parameter kept.
        base = urlunsplit(parts._replace(query="", fragment=""))
        kept = [(key, value) for key, value in query if key not in PAGING_PARAMS]
        headers["Link"] = ", ".join(
            f'<{base}?{urlencode([*kept, *paging.items()])}>; rel="{rel}"' for rel, paging in links
        )
    return headers


def page_response(
    *,
    resource: str,
    url: str,
    params: ListParams,
    items: Sequence[BaseModel | Mapping[str, Any]],
    total: int | None,
    next_after: Sequence[JSONScalar] | None,
    order: Sequence[SortKey],
    key: bytes,
) -> Response:
    """A list answer: the bare JSON array, the paging headers, and X-Next-Cursor when a page may follow."""
    next_cursor = encode_cursor(next_after, order, key) if next_after else None
    headers = list_headers(
        resource=resource,
        offset=params.offset,
        returned=len(items),
        total=total,
        limit=params.limit,
        url=url,
        next_cursor=next_cursor if params.cursor is not None else None,
    )
    if next_cursor is not None:
        headers[NEXT_CURSOR_HEADER] = next_cursor
    headers["Access-Control-Expose-Headers"] += f", {NEXT_CURSOR_HEADER}"
    if params.count == "estimated" and total is not None:
        headers["Preference-Applied"] = "count=estimated"
    return Response(json_list(items), media_type="application/json", headers=headers)


def _plain(value: Any) -> str:
    # Types orjson leaves to us: the driver's UUID subclass, and anything else with a canonical str().
    return str(value)


def json_list(items: Sequence[BaseModel | Mapping[str, Any]]) -> bytes:
    """A JSON array of models (as pydantic renders them) or of plain rows (the same JSON for the same values:
    UTC times end in Z, UUIDs are strings)."""
    return orjson.dumps(
        [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in items],
        default=_plain,
        option=orjson.OPT_UTC_Z,
    )
