"""The one way a list route takes its parameters and gives its answer.

A list declares a `ListSpec` and takes `Annotated[ListQuery[Filters], Depends(list_query(SPEC))]`: the query in
any of the three styles, its filters validated, its order made total, its cursor checked. `ListQuery.respond`
answers the page. The same spec writes the list's parameters into the OpenAPI document (openapi.py), so what a
list documents and what it accepts cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from backend.api.listing.cursors import JSONScalar, cursor_key, decode_cursor
from backend.api.listing.headers import page_response
from backend.api.listing.params import CountMode, F, ListParams, ListSpec, parse_list_params, typed_filters
from backend.domain.ordering import Page, SortKey, total_order

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class ListQuery(Generic[F]):
    """A list request as its route receives it: parameters, typed filters, a total order and the cursor's values."""

    spec: ListSpec[F]
    params: ListParams
    filters: F
    order: tuple[SortKey, ...]  # the requested sort (or the list's default), ending with `id`
    after: list[JSONScalar] | None  # the cursor's values, one per key of `order`
    request: Request

    @property
    def limit(self) -> int:
        return self.params.limit

    @property
    def offset(self) -> int:
        return self.params.offset

    @property
    def count(self) -> CountMode:
        return self.params.count

    @property
    def page(self) -> Page:
        """The rows asked for, for a service: order, limit, offset, and whether to count (not with count=none)."""
        return Page(self.order, self.params.limit, self.params.offset, count=self.params.count != "none")

    @property
    def descending(self) -> bool:
        """Whether the first sort key runs newest (or largest) first."""
        return self.order[0].descending

    def respond(
        self,
        items: Sequence[BaseModel | Mapping[str, Any]],
        *,
        total: int | None,
        next_after: Sequence[JSONScalar] | None = None,
    ) -> Response:
        """The page: a bare JSON array, X-Total-Count, Content-Range and Link, and X-Next-Cursor from the values
        of a full page's last row (`next_after`, one per key of `order`)."""
        return page_response(
            resource=self.spec.resource,
            url=str(self.request.url),
            params=self.params,
            items=items,
            total=total,
            next_after=next_after,
            order=self.order,
            key=cursor_key(self.request),
        )


@dataclass(frozen=True, slots=True)
class ServedListQuery(ListQuery[F], Generic[F, S]):
    """A list request with the service that answers it (see `list_query`'s `service`)."""

    service: S


class ListQueryDependency(Generic[F]):
    """The dependency of the lists of one spec (made by `list_query`)."""

    def __init__(self, spec: ListSpec[F]) -> None:
        self.spec = spec

    async def __call__(self, request: Request) -> ListQuery[F]:
        return ListQuery(self.spec, *self._parse(request), request)

    def _parse(self, request: Request) -> tuple[ListParams, F, tuple[SortKey, ...], list[JSONScalar] | None]:
        spec = self.spec
        params = parse_list_params(request.query_params.multi_items(), request.headers.get("prefer"), spec)
        filters = typed_filters(params, spec)
        order = total_order(params.sort, spec.default_sort)
        after = decode_cursor(params.cursor, order, cursor_key(request)) if params.cursor is not None else None
        return params, filters, order, after


class ServedListQueryDependency(ListQueryDependency[F], Generic[F, S]):
    """The dependency of a list that takes its service with its query (made by `list_query(spec, service=...)`)."""

    def __init__(self, spec: ListSpec[F], service: Callable[[Request], Awaitable[S]]) -> None:
        super().__init__(spec)
        self.service = service

    async def __call__(self, request: Request) -> ServedListQuery[F, S]:
        service = await self.service(request)  # first, as the service's own dependency would have been
        return ServedListQuery(self.spec, *self._parse(request), request, service)


@overload
def list_query(spec: ListSpec[F]) -> ListQueryDependency[F]: ...


@overload
def list_query(spec: ListSpec[F], *, service: Callable[[Request], Awaitable[S]]) -> ServedListQueryDependency[F, S]: ...


def list_query(
    spec: ListSpec[F], *, service: Callable[[Request], Awaitable[S]] | None = None
) -> ListQueryDependency[F] | ServedListQueryDependency[F, S]:
    """The dependency a list route takes its parameters through: `Depends(list_query(SPEC))`.

    With `service` (a function of the request, such as a service's dependency), the list's service comes with the
    query, built in the same dependency: on the hottest lists that is one dependency fewer for FastAPI to solve on
    every request, as `get_member_service` itself calls `get_read_target` rather than depending on it.
    """
    if service is None:
        return ListQueryDependency(spec)
    return ServedListQueryDependency(spec, service)
