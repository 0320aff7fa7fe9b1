"""react-admin's two query styles, alone and beside the native one."""

from __future__ import annotations

from backend.api.listing import ListParams
from backend.domain.ordering import SortKey
from tests.api.listing import parse


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
