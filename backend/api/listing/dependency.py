"""A list request read from the HTTP request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic

from starlette.requests import Request

from backend.api.listing.cursors import JSONScalar, cursor_key, decode_cursor
from backend.api.listing.params import ListParams, ListSpec, ModelT, parse_list_params, typed_filters
from backend.domain.ordering import SortKey


@dataclass(frozen=True)
class NewestFirst(Generic[ModelT]):
    """A newest-first list request (created_at, then id): parameters, typed filters, order and cursor values."""

    params: ListParams
    filters: ModelT
    descending: bool
    order: tuple[SortKey, SortKey]
    after: list[JSONScalar] | None


def request_list_params(request: Request, spec: ListSpec) -> ListParams:
    """`parse_list_params` of a request: its query parameters and its Prefer header."""
    return parse_list_params(list(request.query_params.multi_items()), request.headers.get("prefer"), spec)


def parse_newest_first(
    request: Request, spec: ListSpec, model: type[ModelT], multi_value: frozenset[str]
) -> NewestFirst[ModelT]:
    """Parse a list that sorts only by time (`sort=created_at` turns it oldest first), with keyset paging."""
    params = request_list_params(request, spec)
    descending = params.sort[0].descending if params.sort else True
    order = (SortKey("created_at", descending), SortKey("id", descending))
    after = decode_cursor(params.cursor, order, cursor_key(request)) if params.cursor is not None else None
    return NewestFirst(params, typed_filters(params, model, multi_value), descending, order, after)
