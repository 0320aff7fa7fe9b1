"""The photo and document queues: across members, oldest first, every list convention, exact totals from counters,
checked against the rows themselves on the real database and the URLs against the real S3 server."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.member.models import PhotoStatus
from backend.domain.queue.repository import PHOTOS as PHOTO_QUEUE
from backend.domain.queue.repository import QueueQuery, page_statement
from backend.domain.queue.schemas import PhotoQueueFilters
from backend.infrastructure.storage import Storage
from devtools.services import ServiceUrls
from tests.api.test_photos import add_photo, create_member, remove_member
from tests.conftest import asyncpg_dsn, wait_for_replica

PHOTOS = "/api/v1/admin/photos"
DOCUMENTS = "/api/v1/admin/documents"


async def truth(
    db: asyncpg.Connection,
    table: str,
    where: str = "true",
    *args: object,
    descending: bool = False,
    live: bool = True,
) -> list[str]:
    """The ids a queue should list, in its order, from the rows themselves."""
    direction = "DESC" if descending else "ASC"
    alive = "i.deleted_at IS NULL AND u.deleted_at IS NULL" if live else "true"
    rows = await db.fetch(
        f"SELECT i.id FROM {table} i JOIN users u ON u.id = i.user_id WHERE {alive} AND {where}"
        f" ORDER BY i.created_at {direction}, i.id {direction}",
        *args,
    )
    return [str(r["id"]) for r in rows]


async def page_through(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> list[str]:
    """Every id of a queue, following X-Next-Cursor page by page."""
    seen: list[str] = []
    response = await client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        seen += [item["id"] for item in response.json()]
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            return seen
        response = await client.get(url, params={**params, "cursor": cursor})


@pytest.fixture
def storage(app: FastAPI) -> Storage:
    return app_state(app).storage


@pytest.fixture
async def member(db: asyncpg.Connection, storage: Storage) -> AsyncIterator[uuid.UUID]:
    member_id = await create_member(db, status="pending")
    try:
        yield member_id
    finally:
        await remove_member(db, storage, member_id)


class TestPhotoQueue:
    async def test_pending_photos_oldest_first_with_the_exact_total(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        await wait_for_replica(services)
        expected = await truth(db, "user_photos", "i.status = 'pending'")
        assert len(expected) > 30  # the seed has a queue
        response = await client.get(PHOTOS, params={"status": "pending", "limit": "30"})
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()] == expected[:30]
        assert response.headers["x-total-count"] == str(len(expected))
        assert response.headers["content-range"] == f"photos 0-29/{len(expected)}"

    async def test_each_item_has_its_photo_its_url_its_member_and_its_claim(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        await wait_for_replica(services)
        [item] = (await client.get(PHOTOS, params={"status": "approved", "limit": "1"})).json()
        row = await db.fetchrow(
            "SELECT p.*, u.name, u.status AS member_status FROM user_photos p JOIN users u ON u.id = p.user_id"
            " WHERE p.id = $1",
            uuid.UUID(item["id"]),
        )
        assert row is not None
        assert item["member"] == {"id": str(row["user_id"]), "name": row["name"], "status": row["member_status"]}
        assert item["member_id"] == str(row["user_id"])
        assert (item["s3_key"], item["status"], item["display_order"]) == (
            row["s3_key"],
            "approved",
            row["display_order"],
        )
        assert (item["claimed_by"], item["claimed_until"]) == (None, None)
        async with httpx.AsyncClient() as http:
            fetched = await http.get(item["url"])
        assert fetched.status_code == 200
        assert fetched.content[:3] == b"\xff\xd8\xff"  # the seed's JPEG

    async def test_cursor_paging_walks_the_whole_filtered_queue_once(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        await wait_for_replica(services)
        where = "i.status = 'pending' AND u.gender = 'male' AND u.status IN ('pending', 'active')"
        expected = await truth(db, "user_photos", where)
        params = {"status": "pending", "gender": "male", "member_status": "pending,active", "limit": "7"}
        assert await page_through(client, PHOTOS, params) == expected
        backwards = await truth(db, "user_photos", where, descending=True)
        assert await page_through(client, PHOTOS, {**params, "sort": "-created_at"}) == backwards

    @pytest.mark.parametrize(
        ("params", "where"),
        [
            ({}, "true"),
            ({"status": "pending,rejected"}, "i.status IN ('pending', 'rejected')"),
            ({"status": "approved", "member_status": "active"}, "i.status = 'approved' AND u.status = 'active'"),
            ({"gender": "female"}, "u.gender = 'female'"),
            ({"status": "rejected", "sort": "-created_at"}, "i.status = 'rejected'"),
        ],
    )
    async def test_several_statuses_merge_in_order_and_every_total_is_exact(
        self,
        client: httpx.AsyncClient,
        db: asyncpg.Connection,
        services: ServiceUrls,
        params: dict[str, str],
        where: str,
    ) -> None:
        await wait_for_replica(services)
        descending = params.get("sort", "").startswith("-")
        expected = await truth(db, "user_photos", where, descending=descending)
        response = await client.get(PHOTOS, params={**params, "limit": "40", "offset": "5"})
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()] == expected[5:45]
        assert response.headers["x-total-count"] == str(len(expected))

    async def test_deleted_photos_and_photos_of_deleted_members_only_with_include_deleted(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls, member: uuid.UUID
    ) -> None:
        live = await add_photo(db, member, order=0)
        deleted = await add_photo(db, member, order=1, deleted=True)
        gone_member = await create_member(db, deleted=True)
        try:
            of_gone = await add_photo(db, gone_member, order=0)
            await wait_for_replica(services)
            shown = {item["id"] for item in (await client.get(PHOTOS, params={"member_id": str(member)})).json()}
            assert shown == {str(live)}
            params = {"member_id": f"{member},{gone_member}", "include_deleted": "true"}
            response = await client.get(PHOTOS, params=params)
            assert {item["id"] for item in response.json()} == {str(live), str(deleted), str(of_gone)}
            assert response.headers["x-total-count"] == "3"
            # The counters hold deletion too: include_deleted totals over all members are exact.
            everything = await truth(db, "user_photos", "i.status = 'pending'", live=False)
            response = await client.get(PHOTOS, params={"status": "pending", "include_deleted": "true"})
            assert response.headers["x-total-count"] == str(len(everything))
        finally:
            await db.execute("DELETE FROM users WHERE id = $1", gone_member)

    async def test_a_member_status_change_moves_its_photos_between_filtered_queues(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls, member: uuid.UUID
    ) -> None:
        photo = await add_photo(db, member, order=0)

        async def total(member_status: str) -> int:
            await wait_for_replica(services)
            response = await client.get(PHOTOS, params={"status": "pending", "member_status": member_status})
            return int(response.headers["x-total-count"])

        pending, active = await total("pending"), await total("active")
        await db.execute("UPDATE users SET status = 'active' WHERE id = $1", member)
        assert (await total("pending"), await total("active")) == (pending - 1, active + 1)
        [item] = (await client.get(PHOTOS, params={"id": str(photo)})).json()
        assert item["member"]["status"] == "active"

    async def test_an_upload_under_way_has_no_url(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls, member: uuid.UUID
    ) -> None:
        photo = await add_photo(db, member, order=0, status="uploading")
        await wait_for_replica(services)
        [item] = (await client.get(PHOTOS, params={"status": "uploading", "member_id": str(member)})).json()
        assert (item["id"], item["url"]) == (str(photo), None)

    async def test_claims_are_shown(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls, member: uuid.UUID
    ) -> None:
        photo = await add_photo(db, member, order=0)
        holder = uuid.uuid4()
        await db.execute(
            "UPDATE user_photos SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = $1",
            photo,
            holder,
        )
        await wait_for_replica(services)
        [item] = (await client.get(PHOTOS, params={"id": str(photo)})).json()
        assert item["claimed_by"] == str(holder)
        assert item["claimed_until"] is not None

    async def test_react_admin_queries_work_unchanged(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        await wait_for_replica(services)
        expected = await truth(db, "user_photos", "i.status = 'pending'")
        params = {"filter": json.dumps({"status": "pending"}), "range": "[0,9]", "sort": '["created_at","ASC"]'}
        response = await client.get(PHOTOS, params=params)
        assert [item["id"] for item in response.json()] == expected[:10]
        assert response.headers["content-range"] == f"photos 0-9/{len(expected)}"

    @pytest.mark.parametrize(
        ("params", "parameter"),
        [
            ({"status": "verified"}, "status"),
            ({"member_status": "gone"}, "member_status"),
            ({"member_id": "nope"}, "member_id"),
            ({"q": "x"}, "q"),
            ({"sort": "name"}, "sort"),
            ({"cursor": "forged"}, "cursor"),
        ],
    )
    async def test_bad_parameters_are_400_naming_them(
        self, client: httpx.AsyncClient, params: dict[str, str], parameter: str
    ) -> None:
        response = await client.get(PHOTOS, params=params)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["parameter"] == parameter


class TestDocumentQueue:
    async def test_pending_documents_oldest_first_with_the_exact_total_and_paging(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        await wait_for_replica(services)
        expected = await truth(db, "user_documents", "i.status = 'pending'")
        assert expected  # the seed has some
        response = await client.get(DOCUMENTS, params={"status": "pending", "limit": "5"})
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()] == expected[:5]
        assert response.headers["x-total-count"] == str(len(expected))
        assert await page_through(client, DOCUMENTS, {"status": "pending", "limit": "4"}) == expected

    async def test_items_carry_the_document_its_url_and_its_member(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        await wait_for_replica(services)
        params = {"status": "verified", "doc_type": "employment,education,income", "limit": "1"}
        [item] = (await client.get(DOCUMENTS, params=params)).json()
        row = await db.fetchrow(
            "SELECT d.*, u.name FROM user_documents d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
            uuid.UUID(item["id"]),
        )
        assert row is not None
        assert (item["doc_type"], item["member"]["name"], item["reason_code"]) == (row["doc_type"], row["name"], None)
        async with httpx.AsyncClient() as http:
            fetched = await http.get(item["url"])
        assert (fetched.status_code, fetched.content[:5]) == (200, b"%PDF-")

    @pytest.mark.parametrize(
        ("params", "where"),
        [
            ({"doc_type": "identity,income"}, "i.doc_type IN ('identity', 'income')"),
            ({"status": "verified", "gender": "male"}, "i.status = 'verified' AND u.gender = 'male'"),
            ({"member_status": "pending"}, "u.status = 'pending'"),
        ],
    )
    async def test_filters_and_totals(
        self,
        client: httpx.AsyncClient,
        db: asyncpg.Connection,
        services: ServiceUrls,
        params: dict[str, str],
        where: str,
    ) -> None:
        await wait_for_replica(services)
        expected = await truth(db, "user_documents", where)
        response = await client.get(DOCUMENTS, params={**params, "limit": "50"})
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()] == expected[:50]
        assert response.headers["x-total-count"] == str(len(expected))

    async def test_an_unknown_filter_value_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.get(DOCUMENTS, params={"doc_type": "passport"})
        assert (response.status_code, response.json()["parameter"]) == (400, "doc_type")


async def test_the_queue_statements_use_the_status_order_index(services: ServiceUrls) -> None:
    """EXPLAIN of a page: the (status, created_at, id) index hands rows over in order, no sort of the queue."""
    conn = await asyncpg.connect(asyncpg_dsn(services.superuser_database_url))
    try:
        await conn.execute("SET enable_seqscan = off")  # a small table may be cheaper to scan; the plan's shape counts
        for filters in (PhotoQueueFilters(status=[PhotoStatus.pending]), PhotoQueueFilters()):
            query = QueueQuery(filters=filters, descending=False, limit=25)
            sql, args = page_statement(PHOTO_QUEUE, query, with_total=True)
            plan = json.dumps(json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)))
            assert "ix_user_photos_status_created_at_id" in plan
            assert '"Node Type": "Sort"' not in plan
    finally:
        await conn.close()


async def test_a_deep_page_keeps_one_generic_plan(services: ServiceUrls, db: asyncpg.Pool) -> None:
    """The deep page's statement, prepared once and run with positions, is not planned anew on each run: after
    PostgreSQL's five custom plans it runs the generic one (pg_prepared_statements counts them)."""
    oldest = await db.fetch(
        "SELECT created_at, id FROM user_photos WHERE status = 'pending' ORDER BY created_at, id LIMIT 8"
    )
    assert len(oldest) == 8, "the seed has pending photos"
    query = QueueQuery(
        filters=PhotoQueueFilters(status=[PhotoStatus.pending]),
        descending=False,
        limit=25,
        after=(oldest[0]["created_at"], oldest[0]["id"]),
    )
    sql, _ = page_statement(PHOTO_QUEUE, query, with_total=True)
    conn = await asyncpg.connect(asyncpg_dsn(services.database_url))
    try:
        statement = await conn.prepare(sql)
        for row in oldest:
            await statement.fetch(row["created_at"], row["id"])
        plans = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", sql
        )
    finally:
        await conn.close()
    assert plans is not None
    assert plans["generic_plans"] >= 3, dict(plans)
