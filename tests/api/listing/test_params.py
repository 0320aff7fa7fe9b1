"""The list-query conventions: three query styles in, one ListParams out; cursors; list headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from pydantic import BaseModel

from backend.api.listing import (
    NEWEST_FIRST,
    JSONScalar,
    ListParams,
    ListSpec,
    NoFilters,
    decode_cursor,
    encode_cursor,
    list_headers,
    parse_list_params,
)
from backend.domain.errors import BadRequest, DomainError
from backend.domain.ordering import SortKey


class Filters(BaseModel):
    status: str | None = None
    gender: str | None = None
    q: str | None = None
    id: list[str] | None = None
    include_deleted: bool = False
    age: list[str] | None = None


SPEC = ListSpec(
    resource="members",
    filters=Filters,
    sort_fields=frozenset({"created_at", "name", "id"}),
    default_sort=NEWEST_FIRST,
)


def parse(query: str, prefer: str | None = None, spec: ListSpec[Any] = SPEC) -> ListParams:
    # The same decoding Starlette applies to request.query_params.multi_items().
    return parse_list_params(parse_qsl(query, keep_blank_values=True), prefer, spec)


def bad_request(query: str) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse(query)
    return caught.value


def links(headers: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """The Link header as {rel: parsed query of its URL}."""
    found = re.findall(r'<([^>]*)>; rel="(\w+)"', headers.get("Link", ""))
    return {rel: parse_qs(urlsplit(url).query, keep_blank_values=True) for url, rel in found}


class TestNativeStyle:
    def test_no_parameters_gives_the_defaults(self) -> None:
        params = parse("")
        assert params == ListParams(filters={}, sort=(), limit=25, offset=0, cursor=None, count="exact")

    def test_filters_by_name(self) -> None:
        params = parse("status=pending&gender=female&q=kim")
        assert params.filters == {"status": ("pending",), "gender": ("female",), "q": ("kim",)}

    def test_a_repeated_filter_gives_several_values_without_splitting_commas(self) -> None:
        params = parse("id=a&id=b&q=kim,lee")
        assert params.filters == {"id": ("a", "b"), "q": ("kim,lee",)}

    def test_filters_cannot_be_changed(self) -> None:
        params = parse("status=pending")
        with pytest.raises(TypeError):
            params.filters["status"] = ("active",)  # type: ignore[index]

    def test_a_field_sorted_on_again_is_dropped(self) -> None:
        # ORDER BY name, name DESC orders as ORDER BY name: the repetition is redundant, not an error.
        assert parse("sort=name,-name,id").sort == (SortKey("name", False), SortKey("id", False))
        assert parse("_sort=id,id&_order=DESC,ASC").sort == (SortKey("id", True),)

    def test_sort_is_comma_separated_with_minus_for_descending(self) -> None:
        params = parse("sort=-created_at, name")
        assert params.sort == (SortKey("created_at", descending=True), SortKey("name", descending=False))

    def test_limit_and_offset(self) -> None:
        params = parse("limit=50&offset=100")
        assert (params.limit, params.offset) == (50, 100)

    def test_limit_may_be_the_maximum(self) -> None:
        assert parse("limit=200").limit == 200

    def test_spec_sets_default_and_maximum_limit(self) -> None:
        spec = ListSpec(
            resource="rows",
            filters=NoFilters,
            sort_fields=frozenset(),
            default_sort=NEWEST_FIRST,
            default_limit=10,
            max_limit=20,
        )
        assert parse("", spec=spec).limit == 10
        with pytest.raises(BadRequest, match="at most 20"):
            parse("limit=21", spec=spec)

    def test_cursor_is_passed_through_with_limit(self) -> None:
        params = parse("cursor=abc_-1&limit=10")
        assert (params.cursor, params.limit, params.offset) == ("abc_-1", 10, 0)

    def test_an_empty_control_parameter_means_not_given(self) -> None:
        params = parse("sort=&limit=&offset=&cursor=&range=")
        assert params == ListParams(filters={}, sort=(), limit=25, offset=0, cursor=None, count="exact")

    def test_an_empty_filter_value_is_kept_for_the_caller_to_judge(self) -> None:
        assert parse("q=").filters == {"q": ("",)}


class TestSimpleRestStyle:
    def test_sort_as_json_array(self) -> None:
        assert parse('sort=["created_at","DESC"]').sort == (SortKey("created_at", descending=True),)
        assert parse('sort=["name","asc"]').sort == (SortKey("name", descending=False),)

    def test_range_is_inclusive(self) -> None:
        params = parse("range=[0,24]")
        assert (params.limit, params.offset) == (25, 0)
        params = parse("range=[50,59]")
        assert (params.limit, params.offset) == (10, 50)

    def test_filter_object_with_multi_values(self) -> None:
        params = parse('filter={"status":"pending","id":["a","b"],"q":"kim"}')
        assert params.filters == {"status": ("pending",), "id": ("a", "b"), "q": ("kim",)}

    def test_booleans_and_numbers_become_strings_as_written(self) -> None:
        params = parse('filter={"include_deleted":true,"age":[12,12.50],"gender":false}')
        assert params.filters == {"include_deleted": ("true",), "age": ("12", "12.50"), "gender": ("false",)}

    def test_an_empty_list_filter_is_kept_as_no_values(self) -> None:
        assert parse('filter={"id":[]}').filters == {"id": ()}

    def test_filter_object_combines_with_flattened_filters(self) -> None:
        params = parse('filter={"status":"pending"}&gender=female')
        assert params.filters == {"status": ("pending",), "gender": ("female",)}

    def test_what_react_admin_sends_for_get_list(self) -> None:
        params = parse('filter={"q":"kim"}&range=[25,49]&sort=["id","ASC"]')
        assert params == ListParams(
            filters={"q": ("kim",)},
            sort=(SortKey("id", descending=False),),
            limit=25,
            offset=25,
            cursor=None,
            count="exact",
        )


class TestJsonServerStyle:
    def test_sort_and_order(self) -> None:
        assert parse("_sort=created_at&_order=DESC").sort == (SortKey("created_at", descending=True),)

    def test_sort_without_order_is_ascending(self) -> None:
        assert parse("_sort=name").sort == (SortKey("name", descending=False),)

    def test_comma_separated_sort_and_order_pair_up(self) -> None:
        params = parse("_sort=created_at,name&_order=desc,ASC")
        assert params.sort == (SortKey("created_at", descending=True), SortKey("name", descending=False))

    def test_one_order_applies_to_every_field(self) -> None:
        params = parse("_sort=created_at,name&_order=DESC")
        assert params.sort == (SortKey("created_at", descending=True), SortKey("name", descending=True))

    def test_start_and_end_with_end_exclusive(self) -> None:
        params = parse("_start=0&_end=25")
        assert (params.limit, params.offset) == (25, 0)
        params = parse("_start=30&_end=40")
        assert (params.limit, params.offset) == (10, 30)

    def test_start_alone_keeps_the_default_limit(self) -> None:
        params = parse("_start=50")
        assert (params.limit, params.offset) == (25, 50)

    def test_end_alone_starts_at_zero(self) -> None:
        params = parse("_end=10")
        assert (params.limit, params.offset) == (10, 0)

    def test_what_react_admin_sends_for_get_many(self) -> None:
        assert parse("id=1&id=2&id=3").filters == {"id": ("1", "2", "3")}

    def test_what_react_admin_sends_for_get_list(self) -> None:
        params = parse("_end=50&_order=DESC&_sort=created_at&_start=25&q=kim&status=pending")
        assert params == ListParams(
            filters={"q": ("kim",), "status": ("pending",)},
            sort=(SortKey("created_at", descending=True),),
            limit=25,
            offset=25,
            cursor=None,
            count="exact",
        )


class TestStylesAcrossConcerns:
    def test_sort_style_and_paging_style_are_chosen_separately(self) -> None:
        params = parse('_sort=name&range=[0,9]&filter={"status":"active"}')
        assert params.sort == (SortKey("name", descending=False),)
        assert (params.limit, params.offset, params.filters) == (10, 0, {"status": ("active",)})

    def test_json_sort_with_native_paging(self) -> None:
        params = parse('sort=["name","DESC"]&limit=5&offset=5')
        assert (params.sort, params.limit, params.offset) == ((SortKey("name", descending=True),), 5, 5)


class TestMixingStyles:
    @pytest.mark.parametrize(
        ("query", "parameter", "other"),
        [
            ("sort=name&_sort=name", "sort", "_sort"),
            ("sort=name&_order=DESC", "sort", "_order"),
            ("range=[0,9]&_start=0", "range", "_start"),
            ("range=[0,9]&_end=10", "range", "_end"),
            ("range=[0,9]&offset=0", "range", "offset"),
            ("range=[0,9]&limit=10", "range", "limit"),
            ("_start=0&offset=10", "_start", "offset"),
            ("_end=10&limit=10", "_end", "limit"),
            ("cursor=abc&offset=10", "cursor", "offset"),
            ("cursor=abc&range=[0,9]", "cursor", "range"),
            ("cursor=abc&_start=0", "cursor", "_start"),
            ("cursor=abc&_end=10", "cursor", "_end"),
        ],
    )
    def test_two_styles_for_one_concern_is_a_400_naming_both(self, query: str, parameter: str, other: str) -> None:
        error = bad_request(query)
        assert error.status == 400
        assert error.extra == {"parameter": parameter}
        assert f"'{parameter}' cannot be combined with '{other}'" in error.detail

    def test_cursor_combines_with_limit(self) -> None:
        assert parse("cursor=abc&limit=5").limit == 5


class TestBadQueries:
    @pytest.mark.parametrize(
        ("query", "parameter", "detail"),
        [
            ("foo=1", "foo", "Unknown filter 'foo'. Known filters: age, gender, id, include_deleted, q, status"),
            ('filter={"foo":1}', "filter", "Unknown filter 'foo'. Known filters: age, gender"),
            ("sort=foo", "sort", "Unknown sort field 'foo'. Sortable: created_at, id, name"),
            ("sort=-foo", "sort", "Unknown sort field 'foo'"),
            ('sort=["foo","ASC"]', "sort", "Unknown sort field 'foo'"),
            ("_sort=foo", "_sort", "Unknown sort field 'foo'"),
            ("sort=name,,id", "sort", "empty field"),
            ("sort=-", "sort", "empty field"),
            ("_sort=name,", "_sort", "empty field"),
            ("sort=[name", "sort", "not valid JSON"),
            ('sort=["name"]', "sort", "must be a JSON array"),
            ('sort=["name","UP"]', "sort", "ASC or DESC"),
            ("sort=[1,2]", "sort", "must be a JSON array"),
            ("_sort=name&_order=UP", "_order", "ASC or DESC"),
            ("_sort=name,id&_order=ASC,DESC,ASC", "_order", "3 values for 2"),
            ("_order=DESC", "_order", "needs '_sort'"),
            ("limit=abc", "limit", "'limit' must be an integer, got 'abc'"),
            ("limit=1.5", "limit", "must be an integer"),
            ("limit= 5", "limit", "must be an integer"),
            ("limit=0", "limit", "must be at least 1"),
            ("limit=201", "limit", "'limit' must be at most 200, got '201'"),
            ("limit=" + "9" * 5000, "limit", "must be at most 200"),
            ("offset=-1", "offset", "'offset' must not be negative"),
            ("offset=x", "offset", "must be an integer"),
            ("offset=99999999999999999999", "offset", "must be at most"),
            ("_start=-1", "_start", "must not be negative"),
            ("_start=a", "_start", "must be an integer"),
            ("_end=b", "_end", "must be an integer"),
            ("_start=10&_end=10", "_end", "must be greater than '_start'"),
            ("_start=10&_end=5", "_end", "must be greater than '_start'"),
            ("_start=0&_end=201", "_end", "asks for 201 rows; at most 200"),
            ("range=[0,24", "range", "not valid JSON"),
            ("range=[0]", "range", "must be a JSON array [start, end]"),
            ('range=["0","24"]', "range", "must be a JSON array [start, end]"),
            ("range=[0,2.5]", "range", "must be a JSON array [start, end]"),
            ("range=[true,false]", "range", "must be a JSON array [start, end]"),
            ("range=[-1,5]", "range", "0 <= start <= end"),
            ("range=[10,5]", "range", "0 <= start <= end"),
            ("range=[0,200]", "range", "asks for 201 rows; at most 200"),
            ("range=[NaN,1]", "range", "not valid JSON"),
            ("filter={status", "filter", "not valid JSON"),
            ('filter=["status"]', "filter", "must be a JSON object"),
            ('filter={"status":null}', "filter", "must be a string, number or boolean"),
            ('filter={"status":{"eq":"x"}}', "filter", "must be a string, number or boolean"),
            ('filter={"id":[["a"]]}', "filter", "must be a string, number or boolean"),
            ('filter={"age":Infinity}', "filter", "not valid JSON"),
            ("filter=" + "[" * 100_000, "filter", "not valid JSON"),
            ('filter={"status":"a"}&status=b', "filter", "given both in 'filter' and as its own parameter"),
            ("limit=5&limit=6", "limit", "'limit' is given more than once"),
            ("sort=name&sort=id", "sort", "given more than once"),
        ],
    )
    def test_is_a_400_naming_the_parameter(self, query: str, parameter: str, detail: str) -> None:
        error = bad_request(query)
        assert error.status == 400
        assert error.extra == {"parameter": parameter}
        assert detail in error.detail

    def test_echoed_input_is_cut_short(self) -> None:
        error = bad_request("x" * 10_000 + "=1")
        assert len(error.detail) < 200


class TestPreferCount:
    @pytest.mark.parametrize(
        ("header", "count"),
        [
            (None, "exact"),
            ("", "exact"),
            ("count=exact", "exact"),
            ("count=estimated", "estimated"),
            ("count=none", "none"),
            ("Count=Estimated", "estimated"),
            ("return=representation, count=estimated", "estimated"),
            ('count="none"; foo=bar', "none"),
            ("count=planned", "exact"),
            ("handling=lenient", "exact"),
        ],
    )
    def test_prefer_header_chooses_the_count(self, header: str | None, count: str) -> None:
        assert parse("", prefer=header).count == count


class TestListSpec:
    def test_a_filter_named_like_a_list_parameter_is_a_programming_error(self) -> None:
        class Clashing(BaseModel):
            sort: str | None = None

        with pytest.raises(ValueError, match="sort"):
            ListSpec(resource="rows", filters=Clashing, sort_fields=frozenset(), default_sort=NEWEST_FIRST)

    def test_default_limit_above_maximum_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError, match="default_limit"):
            ListSpec(
                resource="rows",
                filters=NoFilters,
                sort_fields=frozenset(),
                default_sort=NEWEST_FIRST,
                default_limit=300,
            )


SORT = (SortKey("created_at", descending=True), SortKey("id", descending=False))


KEY = b"k" * 32


def sign(payload: str, key: bytes = KEY) -> str:
    """A cursor as the server makes one: base64url payload, a dot, base64url HMAC-SHA256 (128 bits) of it."""
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16]
    return f"{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


class TestCursor:
    def test_round_trip(self) -> None:
        values = ["2024-05-01T12:00:00.123456+00:00", "7d3c5b0e-8a8e-4c4e-9d61-2f0b5c4b9a11"]
        assert decode_cursor(encode_cursor(values, SORT, KEY), SORT, KEY) == values

    def test_round_trip_of_every_scalar_kind(self) -> None:
        sort = tuple(SortKey(name, descending=False) for name in "abcdef")
        values: list[JSONScalar] = ["김", 12, 1.5, True, None, ""]
        assert decode_cursor(encode_cursor(values, sort, KEY), sort, KEY) == values

    def test_is_url_safe_and_unpadded(self) -> None:
        cursor = encode_cursor(["a?b&c=d/e+f", 2**40], (SortKey("name", False), SortKey("id", False)), KEY)
        assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}", cursor)

    def test_a_cursor_for_another_sort_is_a_400(self) -> None:
        cursor = encode_cursor(["2024-05-01T00:00:00+00:00", "x"], SORT, KEY)
        for other in [
            (SortKey("created_at", descending=False), SortKey("id", descending=False)),
            (SortKey("name", descending=True), SortKey("id", descending=False)),
            (SortKey("created_at", descending=True),),
        ]:
            with pytest.raises(BadRequest, match="cursor does not match the sort") as caught:
                decode_cursor(cursor, other, KEY)
            assert caught.value.extra == {"parameter": "cursor"}

    def test_is_compact_json(self) -> None:
        payload = encode_cursor(["a", 1], SORT, KEY).split(".")[0]
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        assert text.startswith('["')
        assert " " not in text
        assert json.loads(text)[1] == ["a", 1]

    def test_encoding_needs_one_value_per_sort_key(self) -> None:
        with pytest.raises(ValueError, match="one value per sort key"):
            encode_cursor(["only one"], SORT, KEY)

    def test_a_cursor_made_up_by_a_client_is_a_400(self) -> None:
        genuine = encode_cursor(["2024-05-01T00:00:00+00:00", "x"], SORT, KEY)
        fingerprint = json.loads(base64.urlsafe_b64decode(genuine.split(".")[0] + "==="))[0]
        forged_payload = b64(json.dumps([fingerprint, ["2024-05-01T00:00:00+00:00", 2**31]]))
        for forged in (
            forged_payload,  # the old, unsigned form
            f"{forged_payload}.{genuine.split('.')[1]}",  # another cursor's signature
            sign(forged_payload, b"another key" * 3),  # signed, but not with the server's key
        ):
            with pytest.raises(BadRequest) as caught:
                decode_cursor(forged, SORT, KEY)
            assert caught.value.extra == {"parameter": "cursor"}

    def test_an_altered_cursor_is_a_400(self) -> None:
        cursor = encode_cursor(["2024-05-01T00:00:00+00:00", "x"], SORT, KEY)
        for position in range(len(cursor)):
            if cursor[position] == ".":
                continue
            altered = cursor[:position] + ("A" if cursor[position] != "A" else "B") + cursor[position + 1 :]
            with pytest.raises(BadRequest, match=r"not issued by this server|malformed"):
                decode_cursor(altered, SORT, KEY)

    def test_a_cursor_of_another_key_is_a_400(self) -> None:
        cursor = encode_cursor(["2024-05-01T00:00:00+00:00", "x"], SORT, b"old key" * 5)
        with pytest.raises(BadRequest, match="not issued by this server"):
            decode_cursor(cursor, SORT, KEY)

    @pytest.mark.parametrize(
        "cursor",
        [
            "",
            "!!!",
            "abc=",
            "a",
            "abcde",
            "%2F%2F",
            "a.b",
            sign("a") + "x",
            "a" * 3000 + ".AAAAAAAAAAAAAAAAAAAAAA",
            "a\x00b.AAAAAAAAAAAAAAAAAAAAAA",
            base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        ],
    )
    def test_garbage_is_a_400_naming_cursor(self, cursor: str) -> None:
        with pytest.raises(BadRequest, match="'cursor' is malformed") as caught:
            decode_cursor(cursor, SORT, KEY)
        assert caught.value.extra == {"parameter": "cursor"}

    @pytest.mark.parametrize(
        "payload",
        [
            "not json",
            '{"a":1}',
            "[1,2]",
            '["fp"]',
            '["fp",{"a":1}]',
            '["fp",[{"a":1},1]]',
            '["fp",[[1],1]]',
            '["fp",[NaN,1]]',
            "[" * 1000,
        ],
    )
    def test_signed_nonsense_is_a_400_naming_cursor(self, payload: str) -> None:
        # Only a server whose key leaked could be sent these; they are refused all the same.
        with pytest.raises(BadRequest, match="'cursor' is malformed"):
            decode_cursor(sign(b64(payload)), SORT, KEY)

    def test_a_truncated_cursor_is_a_400(self) -> None:
        cursor = encode_cursor(["2024-05-01T00:00:00+00:00", "x"], SORT, KEY)
        for cut in range(1, len(cursor)):
            with pytest.raises(BadRequest):
                decode_cursor(cursor[:cut], SORT, KEY)


URL = "http://api.test/api/v1/admin/members"


class TestListHeaders:
    def test_first_page_has_next_and_no_prev(self) -> None:
        headers = list_headers(
            resource="members", offset=0, returned=25, total=319, limit=25, url=URL, next_cursor=None
        )
        assert headers["X-Total-Count"] == "319"
        assert headers["Content-Range"] == "members 0-24/319"
        assert links(headers) == {"next": {"offset": ["25"], "limit": ["25"]}}

    def test_middle_page_has_next_and_prev(self) -> None:
        headers = list_headers(
            resource="members", offset=50, returned=25, total=319, limit=25, url=URL, next_cursor=None
        )
        assert headers["Content-Range"] == "members 50-74/319"
        assert links(headers) == {
            "next": {"offset": ["75"], "limit": ["25"]},
            "prev": {"offset": ["25"], "limit": ["25"]},
        }

    def test_last_page_has_no_next(self) -> None:
        headers = list_headers(
            resource="members", offset=300, returned=19, total=319, limit=25, url=URL, next_cursor=None
        )
        assert headers["Content-Range"] == "members 300-318/319"
        assert links(headers) == {"prev": {"offset": ["275"], "limit": ["25"]}}

    def test_prev_does_not_go_below_zero(self) -> None:
        headers = list_headers(
            resource="members", offset=10, returned=25, total=319, limit=25, url=URL, next_cursor=None
        )
        assert links(headers)["prev"] == {"offset": ["0"], "limit": ["25"]}

    def test_empty_result(self) -> None:
        headers = list_headers(resource="members", offset=0, returned=0, total=0, limit=25, url=URL, next_cursor=None)
        assert headers == {
            "X-Total-Count": "0",
            "Content-Range": "members */0",
            "Access-Control-Expose-Headers": "X-Total-Count, Content-Range, Link",
        }

    def test_past_the_end_points_prev_at_the_last_page(self) -> None:
        headers = list_headers(
            resource="members", offset=1000, returned=0, total=60, limit=25, url=URL, next_cursor=None
        )
        assert headers["Content-Range"] == "members */60"
        assert links(headers) == {"prev": {"offset": ["35"], "limit": ["25"]}}

    def test_unknown_total(self) -> None:
        headers = list_headers(
            resource="members", offset=0, returned=25, total=None, limit=25, url=URL, next_cursor=None
        )
        assert "X-Total-Count" not in headers
        assert headers["Content-Range"] == "members 0-24/*"
        assert "next" in links(headers)

    def test_unknown_total_and_a_short_page_has_no_next(self) -> None:
        headers = list_headers(
            resource="members", offset=25, returned=3, total=None, limit=25, url=URL, next_cursor=None
        )
        assert headers["Content-Range"] == "members 25-27/*"
        assert set(links(headers)) == {"prev"}

    def test_unknown_total_and_empty(self) -> None:
        headers = list_headers(
            resource="members", offset=0, returned=0, total=None, limit=25, url=URL, next_cursor=None
        )
        assert headers["Content-Range"] == "members */*"
        assert "Link" not in headers

    def test_exposes_its_headers_to_browsers(self) -> None:
        headers = list_headers(resource="members", offset=0, returned=1, total=1, limit=25, url=URL, next_cursor=None)
        assert headers["Access-Control-Expose-Headers"] == "X-Total-Count, Content-Range, Link"

    def test_link_keeps_the_other_parameters(self) -> None:
        url = f"{URL}?status=pending&id=a&id=b&sort=-created_at%2Cname&q=kim+lee&offset=25&limit=25"
        headers = list_headers(
            resource="members", offset=25, returned=25, total=319, limit=25, url=url, next_cursor=None
        )
        assert links(headers)["next"] == {
            "status": ["pending"],
            "id": ["a", "b"],
            "sort": ["-created_at,name"],
            "q": ["kim lee"],
            "offset": ["50"],
            "limit": ["25"],
        }
        assert headers["Link"].startswith(f"<{URL}?")

    def test_link_replaces_range_styles_with_offset_and_limit(self) -> None:
        url = f'{URL}?filter={{"q":"kim"}}&range=[0,9]&sort=["id","ASC"]'
        headers = list_headers(resource="members", offset=0, returned=10, total=30, limit=10, url=url, next_cursor=None)
        assert links(headers)["next"] == {
            "filter": ['{"q":"kim"}'],
            "sort": ['["id","ASC"]'],
            "offset": ["10"],
            "limit": ["10"],
        }
        url = f"{URL}?_start=10&_end=20&_sort=id&_order=ASC"
        headers = list_headers(
            resource="members", offset=10, returned=10, total=30, limit=10, url=url, next_cursor=None
        )
        assert links(headers) == {
            "next": {"_sort": ["id"], "_order": ["ASC"], "offset": ["20"], "limit": ["10"]},
            "prev": {"_sort": ["id"], "_order": ["ASC"], "offset": ["0"], "limit": ["10"]},
        }

    def test_links_parse_back_into_the_same_list_query(self) -> None:
        url = f'{URL}?filter={{"status":"pending"}}&_sort=name&_order=DESC&_start=0&_end=10'
        headers = list_headers(resource="members", offset=0, returned=10, total=30, limit=10, url=url, next_cursor=None)
        next_url = re.findall(r"<([^>]*)>", headers["Link"])[0]
        params = parse(urlsplit(next_url).query)
        assert params.filters == {"status": ("pending",)}
        assert params.sort == (SortKey("name", descending=True),)
        assert (params.limit, params.offset) == (10, 10)

    def test_cursor_paging_links_carry_the_cursor(self) -> None:
        url = f"{URL}?status=active&sort=-created_at&limit=10"
        headers = list_headers(
            resource="members", offset=0, returned=10, total=None, limit=10, url=url, next_cursor="NEXT"
        )
        assert links(headers) == {
            "next": {"status": ["active"], "sort": ["-created_at"], "cursor": ["NEXT"], "limit": ["10"]}
        }

    def test_cursor_paging_links_replace_the_old_cursor_and_may_go_back(self) -> None:
        url = f"{URL}?cursor=OLD&limit=10"
        headers = list_headers(
            resource="members",
            offset=0,
            returned=10,
            total=None,
            limit=10,
            url=url,
            next_cursor="NEXT",
            prev_cursor="PREV",
        )
        assert links(headers) == {
            "next": {"cursor": ["NEXT"], "limit": ["10"]},
            "prev": {"cursor": ["PREV"], "limit": ["10"]},
        }

    def test_last_cursor_page_has_no_links(self) -> None:
        url = f"{URL}?cursor=OLD&limit=10"
        headers = list_headers(
            resource="members", offset=0, returned=4, total=None, limit=10, url=url, next_cursor=None
        )
        assert "Link" not in headers


class TestErrors:
    def test_bad_request_carries_status_title_detail_and_extra_members(self) -> None:
        error = BadRequest("'limit' must be at most 200", parameter="limit")
        assert isinstance(error, DomainError)
        assert (error.status, error.title, error.detail) == (400, "Bad request", "'limit' must be at most 200")
        assert error.extra == {"parameter": "limit"}
        assert str(error) == "'limit' must be at most 200"
