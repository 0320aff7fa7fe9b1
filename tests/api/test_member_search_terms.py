"""A search by its text alone reads the search terms (migrations 0019, 0020; docs/decisions.md, "Search terms"): it
must find exactly what `name ILIKE '%text%'` (or `phone LIKE '%digits%'`) finds, and the terms must follow every
write of a name, a phone or a deletion."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest

from backend.domain.member import list_repository, term_repository
from backend.domain.member.schemas import MemberFilters
from backend.domain.member.service import total_order
from backend.domain.ordering import SortKey
from devtools.services import ServiceUrls
from tests.api.test_members import MEMBERS, fetch_all
from tests.conftest import asyncpg_dsn, wait_for_replica
from tests.factories import create_member
from tests.plans import executed

pytestmark = pytest.mark.usefixtures("own_members")

TAG = "".join(random.choice("qxzvjw") for _ in range(6))
NAMES = (
    f"{TAG.capitalize()} O'Brien",
    f"{TAG.capitalize()} 100% Real_Name",
    f"{TAG.capitalize()} Back\\Slash",
    f"ÉLODIE {TAG.upper()}",
    f"{TAG}{TAG} Bis{TAG}",
    f"Ab {TAG}",
    f"{TAG} Gone",
)
NEEDLES = (
    TAG,
    TAG.upper(),
    f"{TAG}{TAG}",
    f"{TAG} o'b",
    "100% real",
    "0% r",
    "l_n",
    "l%n",
    "k\\s",
    "élodie",
    "ÉLOdie " + TAG[:2],
    f"ab {TAG}",
    f"{TAG[-3:]} ",
    f"{TAG}zz",
)


@pytest.fixture(scope="module")
async def named(db: asyncpg.Connection, services: ServiceUrls) -> dict[str, uuid.UUID]:
    """A member per name; the last one soft-deleted."""
    made = {name: await create_member(db, name=name, status="active") for name in NAMES}
    await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", made[NAMES[-1]])
    await wait_for_replica(services)
    return made


async def _like(db: asyncpg.Connection, needle: str, *, deleted: bool = False) -> list[str]:
    """The members `name ILIKE '%needle%'` finds, newest first: what the search must answer."""
    rows = await db.fetch(
        "SELECT id FROM users WHERE name ILIKE $1 ESCAPE '\\' AND ($2 OR deleted_at IS NULL)"
        " ORDER BY created_at DESC, id DESC",
        f"%{list_repository._escape_like(needle.strip())}%",  # the search trims its text
        deleted,
    )
    return [str(row["id"]) for row in rows]


@pytest.mark.parametrize("needle", NEEDLES)
async def test_a_name_search_finds_what_ilike_finds(
    client: httpx.AsyncClient, db: asyncpg.Connection, named: dict[str, uuid.UUID], needle: str
) -> None:
    expected = await _like(db, needle)
    params: list[tuple[str, str | int | float | bool | None]] = [("q", needle), ("limit", "2")]
    assert list_repository._term_search(_query(needle)) is not None  # the terms answer it
    assert [row["id"] for row in await fetch_all(client, params)] == expected
    counted = await client.get(MEMBERS, params={"q": needle})
    assert counted.headers["X-Total-Count"] == str(len(expected))
    # Counted exactly, the same search reads users itself: both ways agree.
    exact = await client.get(MEMBERS, params={"q": needle}, headers={"Prefer": "count=exact"})
    assert exact.headers["X-Total-Count"] == str(len(expected))
    assert [row["id"] for row in exact.json()] == expected


async def test_the_terms_answer_a_tag_search_at_all(db: asyncpg.Connection, named: dict[str, uuid.UUID]) -> None:
    # The fixture's names are found (a search that finds nothing would pass the test above trivially).
    found = set(await _like(db, TAG))
    assert found >= {str(named[name]) for name in NAMES[:-1]}
    assert str(named[NAMES[-1]]) not in found
    assert await _like(db, "l_n") == [str(named[NAMES[1]])]  # literally: "l%n" finds no one
    assert await _like(db, "l%n") == []
    assert await _like(db, f"{TAG}zz") == []


def _query(needle: str, order: tuple[SortKey, ...] = (), **filters: object) -> list_repository.MemberListQuery:
    return list_repository.MemberListQuery(
        filters=MemberFilters.model_validate({"q": needle, **filters}),
        created_from=None,
        created_before=None,
        order=total_order(order),
        limit=10,
    )


@pytest.mark.parametrize(
    ("needle", "order"),
    [
        ("ab", ()),  # shorter than a term
        ("1-2", ()),  # phone digits, two of them
        (TAG, (SortKey("name", False),)),  # the terms hold the sign-up order only
        (TAG, (SortKey("created_at", False), SortKey("id", True))),
    ],
)
def test_a_search_in_another_order_or_too_short_reads_users(needle: str, order: tuple[SortKey, ...]) -> None:
    assert list_repository._term_search(_query(needle, order)) is None


@pytest.mark.parametrize(
    ("needle", "filters"),
    [
        (TAG, {"status": ["active"]}),
        (TAG, {"gender": ["female"]}),
        (TAG, {"include_deleted": True}),
        (TAG, {"has_photos": False}),
        (TAG, {"birth_year_min": 1990}),
        (TAG, {"plan": ["premium"]}),
    ],
)
def test_a_search_narrowed_by_more_than_its_text_reads_users(needle: str, filters: dict[str, object]) -> None:
    assert list_repository._term_search(_query(needle, (), **filters)) is None


async def test_a_search_narrowed_by_more_than_its_text_still_finds_what_ilike_finds(
    client: httpx.AsyncClient, db: asyncpg.Connection, named: dict[str, uuid.UUID]
) -> None:
    response = await client.get(MEMBERS, params={"q": TAG, "include_deleted": "true"})
    assert [row["id"] for row in response.json()] == await _like(db, TAG, deleted=True)
    assert str(named[NAMES[-1]]) in [row["id"] for row in response.json()]


async def _found(client: httpx.AsyncClient, needle: str) -> list[str]:
    response = await client.get(MEMBERS, params={"q": needle})
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


async def test_the_terms_follow_a_rename_a_deletion_and_a_restore(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
) -> None:
    before, after = f"{TAG}before", f"{TAG}after"
    member = str(await create_member(db, name=f"Moved {before}", status="active"))
    await wait_for_replica(services)
    assert await _found(client, before) == [member]
    renamed = await admin.patch(f"{MEMBERS}/{member}", json={"name": f"Moved {after}"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200, renamed.text
    await wait_for_replica(services)
    assert (await _found(client, before), await _found(client, after)) == ([], [member])
    assert (await admin.delete(f"{MEMBERS}/{member}")).status_code == 200
    await wait_for_replica(services)
    assert await _found(client, after) == []
    assert (await admin.post(f"{MEMBERS}/{member}/restore")).status_code == 200
    await wait_for_replica(services)
    assert await _found(client, after) == [member]
    await db.execute("DELETE FROM users WHERE id = $1", uuid.UUID(member))
    assert await db.fetchval("SELECT count(*) FROM member_name_terms WHERE member_id = $1", uuid.UUID(member)) == 0


async def test_a_status_change_leaves_the_terms_alone(db: asyncpg.Connection) -> None:
    # The update trigger fires on a name, a sign-up time or a deletion only: a decision writes no terms.
    member = await create_member(db, name=f"Kept {TAG}kept", status="pending")
    before = await db.fetch("SELECT xmin::text, term FROM member_name_terms WHERE member_id = $1 ORDER BY 2", member)
    await db.execute("UPDATE users SET status = 'active' WHERE id = $1", member)
    assert await db.fetch("SELECT xmin::text, term FROM member_name_terms WHERE member_id = $1 ORDER BY 2", member) == (
        before
    )
    assert len(before) == len(f"kept {TAG}kept") - 2


async def test_truncating_users_truncates_the_terms(services: ServiceUrls) -> None:
    # Rolled back: the session's data stays.
    conn = await asyncpg.connect(asyncpg_dsn(services.database_url))
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            assert await conn.fetchval("SELECT count(*) FROM member_name_terms") > 0
            await conn.execute("TRUNCATE users CASCADE")
            assert await conn.fetchval("SELECT count(*) FROM member_name_terms") == 0
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


@pytest.mark.parametrize(("cap", "total"), [(3, 3), (10, 5)])
async def test_a_text_that_occurs_thrice_in_names_counts_each_member_once(
    db: asyncpg.Connection, cap: int, total: int
) -> None:
    # Each name holds the text three times, so the first `cap` terms hold fewer than `cap` members: the whole range
    # is read, and the count is exact under the cap and stops at it.
    needle = f"{TAG}rep{'abcdefghijklmnopqrstuvwxyz'[cap]}"  # one of its own per case
    members = [await create_member(db, name=f"{needle}{needle} {needle}", status="active") for _ in range(5)]
    p = list_repository._Params()
    rows = await db.fetch(list_repository._capped_page(_query(needle), p, cap), *p.args)
    assert rows[0]["total"] == total
    newest_first = await db.fetch(
        "SELECT id::text FROM users WHERE id = ANY($1) ORDER BY created_at DESC, id DESC", members
    )
    if total < cap:  # under the cap the page comes from the matches
        assert [row["id"] for row in rows] == [row["id"] for row in newest_first]
    else:  # at it the page walks the list
        assert [row["id"] for row in rows] == [row["id"] for row in newest_first][: len(rows)]


async def _matching_digits(db: asyncpg.Connection, needle: str, digits: str) -> list[str]:
    rows = await db.fetch(
        "SELECT id FROM users WHERE deleted_at IS NULL AND (name ILIKE $1 ESCAPE '\\' OR phone LIKE $2)"
        " ORDER BY created_at DESC, id DESC",
        f"%{list_repository._escape_like(needle)}%",
        f"%{digits}%",
    )
    return [str(row["id"]) for row in rows]


async def test_a_search_by_digits_finds_names_and_phones_and_follows_their_changes(
    client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
) -> None:
    block = f"{random.randrange(10**6):06d}"
    phones = [await create_member(db, phone=f"+8218{block}{i:02d}", status="active") for i in range(4)]
    named = await create_member(db, name=f"Agent {block}", status="active")
    spaced = f"{block[:3]} {block[3:]}"  # typed as an operator would: digits with a space
    assert list_repository._term_search(_query(spaced)) is not None
    await wait_for_replica(services)
    found = [row["id"] for row in await fetch_all(client, [("q", spaced), ("limit", "2")])]
    assert found == await _matching_digits(db, spaced, block)
    assert set(found) >= {str(member) for member in phones}  # the phones, though no name holds the digits
    assert str(named) not in found  # "Agent 123456" does not hold "123 456"
    assert [row["id"] for row in await fetch_all(client, [("q", block)])] == await _matching_digits(db, block, block)
    assert str(named) in [row["id"] for row in await fetch_all(client, [("q", block)])]
    # A new phone moves the terms; an erased phone (null) leaves none.
    await db.execute("UPDATE users SET phone = $2 WHERE id = $1", phones[0], f"+8217{block}99")
    await db.execute("UPDATE users SET phone = NULL WHERE id = $1", phones[1])
    await wait_for_replica(services)
    after = [row["id"] for row in await fetch_all(client, [("q", f"{block}0")])]
    assert after == [str(phones[3]), str(phones[2])]
    assert [row["id"] for row in await fetch_all(client, [("q", f"{block}99")])] == [str(phones[0])]
    assert await db.fetchval("SELECT count(*) FROM member_phone_terms WHERE member_id = $1", phones[1]) == 0


def _walked(nodes: list[dict[str, Any]]) -> bool:
    """Whether the plan's nodes that ran include a walk down the members (a scan of users filtered by the name)."""
    return any(node.get("Relation Name") == "users" and "~~*" in str(node.get("Filter", "")) for node in nodes)


@pytest.mark.parametrize(("distinct", "walks"), [(5, False), (term_repository.PAGE_TERMS + 1, True)])
async def test_at_the_cap_the_page_takes_each_terms_first_rows_or_walks_when_the_text_begins_many(
    db: asyncpg.Connection, distinct: int, walks: bool
) -> None:
    # Members whose names continue the text in `distinct` ways, two of each, counted with a cap of 3: at the cap.
    needle = f"{TAG}wide{distinct}".replace("0", "o").replace("1", "i").replace("5", "s").replace("6", "g")
    letters = "abcdefghijklmnopqrstuvwxyz"
    members = [
        await create_member(db, name=f"Wide {needle}{letters[i // 26]}{letters[i % 26]}", status="active")
        for i in range(distinct)
        for _ in range(2)
    ]
    rows = await db.fetch(
        "SELECT id, created_at FROM users WHERE id = ANY($1) ORDER BY created_at DESC, id DESC", members
    )
    newest_first = [str(row["id"]) for row in rows]
    cursor = (rows[2]["created_at"], rows[2]["id"])  # a cursor after the third: the same page as offset 3
    for offset, after, first in ((0, None, 0), (3, None, 3), (0, cursor, 3)):
        query = replace(_query(needle), limit=4, offset=offset, after=after)
        p = list_repository._Params()
        sql = list_repository._capped_page(query, p, 3)
        assert [row["id"] for row in await db.fetch(sql, *p.args)] == newest_first[first : first + 4]
        assert _walked(await executed(db, sql, p.args)) is walks
