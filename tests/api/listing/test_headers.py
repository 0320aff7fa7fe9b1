"""A list answer's headers: X-Total-Count, Content-Range, Link."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from backend.api.listing import list_headers
from backend.domain.ordering import SortKey
from tests.api.listing import links, parse

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
