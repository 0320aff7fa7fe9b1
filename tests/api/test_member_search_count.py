"""A search's total (docs/decisions.md, "A search is counted up to 10,000"): `q` lists are counted as
`Prefer: count=estimated` by default, which counts exactly up to 10,000 matches and answers the planner's estimate
(never below 10,001) past them; `Prefer: count=exact` still counts every match. Checked against SQL on members made
here: 10,050 who share one name part, and 40 who share another."""

from __future__ import annotations

import random

import asyncpg
import httpx
import pytest

from backend.domain.member import list_repository
from backend.domain.member.schemas import MemberFilters
from backend.domain.member.service import EXACT_COUNT_BELOW, total_order
from devtools.services import ServiceUrls
from tests.api.test_members import fetch_all
from tests.conftest import wait_for_replica
from tests.plans import executed

MEMBERS = "/api/v1/admin/members"
MANY, FEW = EXACT_COUNT_BELOW + 50, 40

pytestmark = pytest.mark.usefixtures("own_members")


@pytest.fixture(scope="module")
async def names(db: asyncpg.Pool, services: ServiceUrls, own_members: None) -> tuple[str, str]:
    """Two name parts no seeded member has: MANY members named with the first, FEW with the second."""
    tag = "".join(random.choice("qxzvjw") for _ in range(8))
    many, few = f"{tag}many", f"{tag}few"
    prefix = f"+8219{random.randrange(10**3):03d}"
    for part, count, offset in ((many, MANY, 0), (few, FEW, MANY)):
        await db.execute(
            "INSERT INTO users (phone, name, gender, birth_year, status)"
            " SELECT $1 || lpad((n + $4)::text, 5, '0'), 'Searched ' || $2, 'female', 1990, 'active'"
            " FROM generate_series(1, $3) AS n",
            prefix,
            part.capitalize(),
            count,
            offset,
        )
    await db.execute("ANALYZE users, member_name_terms")
    await wait_for_replica(services)
    return many, few


async def matching(db: asyncpg.Pool, part: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM users WHERE deleted_at IS NULL AND name ILIKE $1", f"%{part}%"))


async def test_a_search_past_10000_matches_answers_an_estimate_and_says_so(
    client: httpx.AsyncClient, db: asyncpg.Pool, names: tuple[str, str]
) -> None:
    many, _ = names
    assert await matching(db, many) == MANY
    response = await client.get(MEMBERS, params={"q": many, "limit": "10"})
    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == "count=estimated"
    estimate = int(response.headers["X-Total-Count"])
    assert estimate >= EXACT_COUNT_BELOW + 1
    assert response.headers["Content-Range"] == f"members 0-9/{estimate}"
    assert len(response.json()) == 10
    # Asked explicitly, the same answer.
    explicit = await client.get(MEMBERS, params={"q": many, "limit": "10"}, headers={"Prefer": "count=estimated"})
    assert int(explicit.headers["X-Total-Count"]) >= EXACT_COUNT_BELOW + 1


async def test_a_search_under_10000_matches_is_counted_exactly(
    client: httpx.AsyncClient, db: asyncpg.Pool, names: tuple[str, str]
) -> None:
    _, few = names
    response = await client.get(MEMBERS, params={"q": few, "limit": "10"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == str(await matching(db, few)) == str(FEW)
    assert response.headers["Preference-Applied"] == "count=estimated"
    # A page past the end counts on its own, and as exactly.
    beyond = await client.get(MEMBERS, params={"q": few, "limit": "10", "offset": "100"})
    assert beyond.json() == []
    assert beyond.headers["Content-Range"] == f"members */{FEW}"


async def test_prefer_count_exact_still_counts_every_match(
    client: httpx.AsyncClient, db: asyncpg.Pool, names: tuple[str, str]
) -> None:
    many, _ = names
    response = await client.get(MEMBERS, params={"q": many, "limit": "10"}, headers={"Prefer": "count=exact"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == str(await matching(db, many))
    assert "Preference-Applied" not in response.headers
    none = await client.get(MEMBERS, params={"q": many}, headers={"Prefer": "count=none"})
    assert "X-Total-Count" not in none.headers


async def test_a_list_without_a_search_keeps_its_exact_total(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    response = await client.get(MEMBERS, params={"status": "active", "limit": "1"})
    total = await db.fetchval("SELECT count(*) FROM users WHERE deleted_at IS NULL AND status = 'active'")
    assert response.headers["X-Total-Count"] == str(total)
    assert "Preference-Applied" not in response.headers
    # count=estimated over filters the counters hold answers them exactly: as cheap as an estimate.
    estimated = await client.get(
        MEMBERS, params={"status": "active", "limit": "1"}, headers={"Prefer": "count=estimated"}
    )
    assert estimated.headers["X-Total-Count"] == str(total)


async def test_the_review_queue_counts_a_search_the_same_way(
    client: httpx.AsyncClient, db: asyncpg.Pool, services: ServiceUrls, names: tuple[str, str]
) -> None:
    _, few = names
    await db.execute("UPDATE users SET status = 'pending' WHERE name ILIKE $1", f"%{few}%")
    await wait_for_replica(services)
    try:
        response = await client.get("/api/v1/admin/reviews/pending", params={"q": few})
        assert response.status_code == 200, response.text
        assert response.headers["X-Total-Count"] == str(FEW)
        assert response.headers["Preference-Applied"] == "count=estimated"
    finally:
        await db.execute("UPDATE users SET status = 'active' WHERE name ILIKE $1", f"%{few}%")
        await wait_for_replica(services)


async def test_has_photos_and_birth_years_are_counted_up_to_10000_too(
    client: httpx.AsyncClient, db: asyncpg.Pool, names: tuple[str, str]
) -> None:
    # The counters hold no total for these either: without Prefer they are counted like a search.
    born_1990 = {"birth_year_min": "1990", "birth_year_max": "1990", "limit": "5"}
    without_photos = "NOT EXISTS (SELECT 1 FROM user_photos p WHERE p.user_id = u.id AND p.deleted_at IS NULL)"
    many = await db.fetchval(
        f"SELECT count(*) FROM users u WHERE deleted_at IS NULL AND birth_year = 1990 AND {without_photos}"
    )
    assert many > EXACT_COUNT_BELOW
    past = await client.get(MEMBERS, params={**born_1990, "has_photos": "false"})
    assert past.status_code == 200, past.text
    assert past.headers["Preference-Applied"] == "count=estimated"
    assert int(past.headers["X-Total-Count"]) > EXACT_COUNT_BELOW
    few = await db.fetchval(
        f"SELECT count(*) FROM users u WHERE deleted_at IS NULL AND birth_year = 1990 AND NOT ({without_photos})"
    )
    under = await client.get(MEMBERS, params={**born_1990, "has_photos": "true"})
    assert under.headers["Preference-Applied"] == "count=estimated"
    assert under.headers["X-Total-Count"] == str(few)
    exact = await client.get(MEMBERS, params={**born_1990, "has_photos": "false"}, headers={"Prefer": "count=exact"})
    assert exact.headers["X-Total-Count"] == str(many)
    assert "Preference-Applied" not in exact.headers


async def test_a_search_with_has_photos_counts_the_photos_of_the_matches_only(
    client: httpx.AsyncClient, db: asyncpg.Pool, services: ServiceUrls, names: tuple[str, str]
) -> None:
    # has_photos=true is applied to the members the search matched, outside their CTE (list_repository._capped_rows).
    _, few = names
    member = await db.fetchval("SELECT id FROM users WHERE name ILIKE $1 ORDER BY id LIMIT 1", f"%{few}%")
    await db.execute(
        "INSERT INTO user_photos (user_id, s3_key, content_type, display_order, status)"
        " VALUES ($1, $2, 'image/jpeg', 0, 'pending')",
        member,
        f"photos/{member}/counted.jpg",
    )
    await wait_for_replica(services)
    try:
        with_photos = await client.get(MEMBERS, params={"q": few, "has_photos": "true"})
        without = await client.get(MEMBERS, params={"q": few, "has_photos": "false"})
        assert with_photos.status_code == without.status_code == 200
        assert with_photos.headers["X-Total-Count"] == "1"
        assert [row["id"] for row in with_photos.json()] == [str(member)]
        assert without.headers["X-Total-Count"] == str(FEW - 1)
    finally:
        await db.execute("DELETE FROM user_photos WHERE user_id = $1", member)
        await wait_for_replica(services)


@pytest.mark.parametrize(("sort", "order"), [(None, "created_at DESC, id DESC"), ("name", "name ASC, id ASC")])
async def test_a_search_under_the_cap_pages_through_its_matches_in_order(
    client: httpx.AsyncClient, db: asyncpg.Pool, names: tuple[str, str], sort: str | None, order: str
) -> None:
    # Under the cap the page is sorted from the count's matches (list_repository._capped_page); cursors and
    # offsets page through them as through the table.
    _, few = names
    params: list[tuple[str, str | int | float | bool | None]] = [("q", few), ("limit", "15")]
    if sort:
        params.append(("sort", sort))
    rows = await db.fetch(
        f"SELECT id FROM users WHERE deleted_at IS NULL AND name ILIKE $1 ORDER BY {order}", f"%{few}%"
    )
    expected = [str(row["id"]) for row in rows]
    assert len(expected) == FEW
    assert [row["id"] for row in await fetch_all(client, params)] == expected
    second = await client.get(MEMBERS, params=[*params, ("offset", "15")])
    assert [row["id"] for row in second.json()] == expected[15:30]
    assert second.headers["X-Total-Count"] == str(FEW)


@pytest.mark.parametrize("which", [0, 1])
async def test_a_search_by_a_name_part_reads_its_term_once_for_the_count_and_a_page_for_the_page(
    db: asyncpg.Pool, names: tuple[str, str], which: int
) -> None:
    # Each name part begins one term: two index probes find it (and the end), its rows are counted no further than
    # the cap, and the page is its first 10 rows; the members are never walked.
    term = names[which]
    query = list_repository.MemberListQuery(
        filters=MemberFilters(q=term), created_from=None, created_before=None, order=total_order(()), limit=10
    )
    p = list_repository._Params()
    sql = list_repository._capped_page(query, p, EXACT_COUNT_BELOW + 1)
    nodes = await executed(db, sql, p.args)
    read = [node["Actual Rows"] for node in nodes if node.get("Relation Name") == "member_name_terms"]
    assert sorted(read) == sorted([1, 0, 10, min(EXACT_COUNT_BELOW + 1, MANY if which == 0 else FEW)]), read
    searching = [
        node
        for node in nodes
        if node.get("Relation Name") == "users"
        and any("~~*" in str(node.get(key, "")) for key in ("Filter", "Index Cond", "Recheck Cond"))
    ]
    assert searching == []
