"""The one list dependency: a request in, a ListQuery out (typed filters, a total order, the cursor checked); and
the answer it builds."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import orjson
import pytest
from starlette.requests import Request

from backend.api.listing import ListQuery, list_query
from backend.domain.errors import BadRequest, NotFoundError
from backend.domain.ordering import SortKey
from tests.api.listing import SPEC, Filters, links

# The app as the list dependency reaches it: app_state(app).settings.cursor_key (api/state.py).
APP = SimpleNamespace(state=SimpleNamespace(memberdesk=SimpleNamespace(settings=SimpleNamespace(cursor_key=b"k" * 32))))


def request(query: str = "", **headers: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "server": ("memberdesk.test", 80),
            "path": "/api/v1/admin/members",
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(b"host", b"memberdesk.test"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
            "app": APP,
        }
    )


async def listing(query: str = "", **headers: str) -> ListQuery[Filters]:
    return await list_query(SPEC)(request(query, **headers))


ROWS = [{"id": "a", "name": "Kim"}, {"id": "b", "name": "Lee"}]


class TestTheQuery:
    async def test_has_the_parameters_typed_filters_and_the_default_order_made_total(self) -> None:
        got = await listing("status=active&include_deleted=true&limit=5&offset=10")
        assert got.filters == Filters(status="active", include_deleted=True)
        assert (got.limit, got.offset, got.count, got.after) == (5, 10, "exact", None)
        assert got.order == (SortKey("created_at", descending=True), SortKey("id", descending=True))
        assert got.descending

    async def test_a_requested_sort_gets_id_last(self) -> None:
        got = await listing("sort=name")
        assert got.order == (SortKey("name", descending=False), SortKey("id", descending=False))
        assert not got.descending

    async def test_reads_prefer(self) -> None:
        assert (await listing(Prefer="count=estimated")).count == "estimated"

    async def test_a_bad_filter_value_is_a_400_naming_it(self) -> None:
        class Strict(Filters):
            status: int | None = None  # type: ignore[assignment]

        with pytest.raises(BadRequest) as caught:
            await list_query(replace(SPEC, filters=Strict))(request("status=x"))
        assert caught.value.extra["parameter"] == "status"


class TestCursorPaging:
    async def test_the_next_cursor_of_a_page_brings_its_values_back(self) -> None:
        first = await listing("sort=name&limit=2")
        answer = first.respond(ROWS, total=None, next_after=["Lee", "b"])
        cursor = answer.headers["X-Next-Cursor"]
        following = await listing(f"sort=name&limit=2&cursor={cursor}")
        assert following.after == ["Lee", "b"]

    async def test_a_cursor_of_another_sort_is_a_400(self) -> None:
        first = await listing("sort=name&limit=2")
        cursor = first.respond(ROWS, total=None, next_after=["Lee", "b"]).headers["X-Next-Cursor"]
        with pytest.raises(BadRequest, match="does not match the sort"):
            await listing(f"sort=-name&limit=2&cursor={cursor}")

    async def test_a_cursor_page_links_the_next_by_cursor(self) -> None:
        page = await listing("limit=2&cursor=" + (await _a_cursor()))
        answer = page.respond(ROWS, total=None, next_after=["2024-05-01T00:00:00+00:00", "b"])
        assert set(links({"Link": answer.headers["Link"]})["next"]) == {"cursor", "limit"}


async def _a_cursor() -> str:
    first = await listing("limit=2")
    cursor: str = first.respond(ROWS, total=None, next_after=["2024-05-01T00:00:00+00:00", "a"]).headers[
        "X-Next-Cursor"
    ]
    return cursor


class TestTheAnswer:
    async def test_is_a_bare_array_with_the_list_headers(self) -> None:
        answer = (await listing("limit=2")).respond(ROWS, total=7)
        assert orjson.loads(answer.body) == ROWS
        assert answer.media_type == "application/json"
        assert (answer.headers["X-Total-Count"], answer.headers["Content-Range"]) == ("7", "members 0-1/7")
        assert links({"Link": answer.headers["Link"]})["next"] == {"offset": ["2"], "limit": ["2"]}
        assert "X-Next-Cursor" not in answer.headers
        exposed = answer.headers["Access-Control-Expose-Headers"]
        assert exposed == "X-Total-Count, Content-Range, Link, X-Next-Cursor"

    async def test_says_when_the_total_is_an_estimate(self) -> None:
        answer = (await listing(Prefer="count=estimated")).respond(ROWS, total=12_345)
        assert answer.headers["Preference-Applied"] == "count=estimated"


class TestServedLists:
    async def test_take_their_service_with_the_query(self) -> None:
        async def service(request: Request) -> str:
            return "the service"

        got = await list_query(SPEC, service=service)(request("limit=3"))
        assert (got.service, got.limit) == ("the service", 3)

    async def test_build_the_service_first_as_its_own_dependency_would_be(self) -> None:
        async def missing(request: Request) -> str:
            raise NotFoundError("no service")

        with pytest.raises(NotFoundError):
            await list_query(SPEC, service=missing)(request("limit=oops"))
