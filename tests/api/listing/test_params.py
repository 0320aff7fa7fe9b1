"""The list parameters in one shape: the native style, styles mixed, bad queries, Prefer, the spec, typed filters."""

from __future__ import annotations

from dataclasses import replace
from unittest.mock import ANY

import pytest
from pydantic import BaseModel

from backend.api.listing import NEWEST_FIRST, ListParams, ListSpec, NoFilters, typed_filters
from backend.domain.errors import BadRequest, DomainError
from backend.domain.ordering import SortKey
from tests.api.listing import SPEC, bad_request, parse


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

    @pytest.mark.parametrize(
        ("query", "header", "count"),
        [
            ("q=kim", None, "estimated"),
            ('filter={"q": "kim"}', None, "estimated"),
            ("q=kim", "count=planned", "estimated"),
            ("q=kim", "count=exact", "exact"),
            ("q=kim", "count=none", "none"),
            ("status=active", None, "exact"),
            ("q=", None, "exact"),
        ],
    )
    def test_a_search_is_estimated_unless_prefer_says_otherwise(
        self, query: str, header: str | None, count: str
    ) -> None:
        searched = replace(SPEC, estimated_with=frozenset({"q"}))
        assert parse(query, prefer=header, spec=searched).count == count
        assert parse(query, prefer=header).count == (count if header in ("count=exact", "count=none") else "exact")

    def test_a_list_without_totals_ignores_the_search_default(self) -> None:
        export = replace(SPEC, estimated_with=frozenset({"q"}), counted=False)
        assert parse("q=kim", spec=export).count == "exact"


class TestListSpec:
    def test_estimated_with_names_its_own_filters(self) -> None:
        with pytest.raises(ValueError, match="nickname"):
            replace(SPEC, estimated_with=frozenset({"q", "nickname"}))

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


class TestErrors:
    def test_bad_request_carries_status_title_detail_and_extra_members(self) -> None:
        error = BadRequest("'limit' must be at most 200", parameter="limit")
        assert isinstance(error, DomainError)
        assert (error.status, error.title, error.detail) == (400, "Bad request", "'limit' must be at most 200")
        assert error.extra == {"parameter": "limit"}
        assert str(error) == "'limit' must be at most 200"


class TestWhatAListLacks:
    @pytest.mark.parametrize(
        ("query", "parameter"),
        [
            ("limit=5", "limit"),
            ("offset=5", "offset"),
            ("cursor=a.b", "cursor"),
            ("range=[0,9]", "range"),
            ("_start=0&_end=10", "_end"),
            ("offset=1&limit=x", "limit"),
        ],
    )
    def test_a_list_without_paging_refuses_every_paging_parameter(self, query: str, parameter: str) -> None:
        with pytest.raises(BadRequest, match="no paging") as caught:
            parse(query, spec=replace(SPEC, paged=False))
        assert caught.value.extra == {"parameter": parameter}

    def test_a_list_without_paging_takes_its_filters_and_sort(self) -> None:
        params = parse("status=active&sort=-name", spec=replace(SPEC, paged=False))
        assert (params.filters, params.sort) == ({"status": ("active",)}, (SortKey("name", descending=True),))

    def test_a_list_without_keyset_paging_refuses_a_cursor_but_pages_by_offset(self) -> None:
        spec = replace(SPEC, keyset=False)
        with pytest.raises(BadRequest, match="no cursor paging") as caught:
            parse("cursor=a.b", spec=spec)
        assert caught.value.extra == {"parameter": "cursor"}
        assert (parse("limit=5&offset=10", spec=spec).limit, parse("range=[10,14]", spec=spec).offset) == (5, 10)

    def test_a_list_without_counting_options_counts_exactly_whatever_prefer_says(self) -> None:
        assert parse("", prefer="count=none", spec=replace(SPEC, counted=False)).count == "exact"

    def test_only_narrows_the_filters_of_the_model(self) -> None:
        spec = replace(SPEC, only=frozenset({"q"}))
        assert spec.filter_names == {"q"}
        with pytest.raises(BadRequest, match="Known filters: q") as caught:
            parse("status=active", spec=spec)
        assert caught.value.extra == {"parameter": "status"}

    def test_only_names_fields_of_the_model(self) -> None:
        with pytest.raises(ValueError, match="not filters of Filters: colour"):
            replace(SPEC, only=frozenset({"q", "colour"}))


class TypedFilters(BaseModel):
    status: list[str] | None = None
    id: list[str] | None = None
    q: str | None = None
    age: list[int] | None = None
    include_deleted: bool = False


TYPED = ListSpec(
    resource="rows",
    filters=TypedFilters,
    multi_value=frozenset({"status", "id", "age"}),
    sort_fields=frozenset(),
    default_sort=NEWEST_FIRST,
)


class TestTypedFilters:
    def test_multi_value_filters_take_repeats_and_commas_but_ids_only_repeats(self) -> None:
        params = parse("status=a,b&status=c&id=x,y&id=z&q=kim,lee", spec=TYPED)
        assert typed_filters(params, TYPED) == TypedFilters(status=["a", "b", "c"], id=["x,y", "z"], q="kim,lee")

    def test_values_are_validated_into_the_model(self) -> None:
        params = parse('filter={"age":[30,"40"],"include_deleted":true}', spec=TYPED)
        assert typed_filters(params, TYPED) == TypedFilters(age=[30, 40], include_deleted=True)

    def test_a_single_value_filter_given_twice_is_a_400(self) -> None:
        with pytest.raises(BadRequest, match="takes one value, got 2") as caught:
            typed_filters(parse("q=a&q=b", spec=TYPED), TYPED)
        assert caught.value.extra == {"parameter": "q"}

    def test_an_invalid_value_is_a_400_naming_the_filter_with_the_errors(self) -> None:
        with pytest.raises(BadRequest, match="Invalid value for filter age") as caught:
            typed_filters(parse("age=old", spec=TYPED), TYPED)
        assert caught.value.extra["parameter"] == "age"
        assert caught.value.extra["errors"] == [{"loc": ["age", "0"], "msg": ANY}]
