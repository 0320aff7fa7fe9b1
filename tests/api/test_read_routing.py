"""The read/write split on the real replica: read-your-writes, lag, a dead replica, a dead primary, the pool."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.domain.identity import Role
from backend.infrastructure.settings import Settings
from backend.main import create_app
from devtools.services import DevServices, ServiceUrls
from tests.conftest import api_client, asyncpg_dsn, wait_for_replica
from tests.factories import create_member

MEMBERS = "/api/v1/admin/members"
READ_FROM = "X-Memberdesk-Read-From"


@pytest.fixture
async def routed(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app that probes its replica often, so that health changes show within a second."""
    app = create_app(settings.model_copy(update={"replica_check_interval_seconds": 0.2, "replica_max_lag_seconds": 60}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def replica_admin(services: ServiceUrls) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(services.superuser_replica_urls[0]))
    try:
        yield conn
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


def bearer(tokens: dict[Role, str], role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


async def eventually(check: object, timeout: float = 30.0) -> None:
    """Poll an async predicate until it holds (bounded)."""
    async with asyncio.timeout(timeout):
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.1)


@pytest.fixture
async def lagging_member(
    db: asyncpg.Connection, services: ServiceUrls, replica_admin: asyncpg.Connection
) -> AsyncIterator[uuid.UUID]:
    """A member on the replica too, whose replay is then paused for the test (resumed, and caught up, after it)."""
    member_id = await create_member(db)
    await wait_for_replica(services)
    await replica_admin.execute("SELECT pg_wal_replay_pause()")
    try:
        yield member_id
    finally:
        await replica_admin.execute("SELECT pg_wal_replay_resume()")
        await wait_for_replica(services)


class TestReadYourWrites:
    async def test_a_writer_reads_its_write_while_the_replica_lags(
        self,
        routed: FastAPI,
        tokens: dict[Role, str],
        db: asyncpg.Connection,
        services: ServiceUrls,
        replica_admin: asyncpg.Connection,
    ) -> None:
        member_id = await create_member(db, status="pending")
        await wait_for_replica(services)
        await replica_admin.execute("SELECT pg_wal_replay_pause()")
        async with (
            api_client(routed, bearer(tokens, Role.moderator)) as writer,
            api_client(routed, bearer(tokens, Role.viewer)) as other,
        ):
            approved = await writer.post(f"{MEMBERS}/{member_id}/approve", json={"reason": "ok"})
            assert approved.status_code == 200
            assert approved.headers["X-Memberdesk-LSN"]
            assert "memberdesk_lsn=" in approved.headers["set-cookie"]

            # The writer (its cookie jar carries the position) sees the write at once, from the primary.
            detail = await writer.get(f"{MEMBERS}/{member_id}")
            assert detail.json()["status"] == "active"
            assert detail.headers[READ_FROM] == "primary"
            listed = await writer.get(MEMBERS, params={"id": str(member_id)})
            assert listed.json()[0]["status"] == "active"
            # The header works as well as the cookie, for clients without a cookie jar.
            by_header = await other.get(
                f"{MEMBERS}/{member_id}", headers={"X-Memberdesk-LSN": approved.headers["X-Memberdesk-LSN"]}
            )
            assert by_header.json()["status"] == "active"

            # A client without the position is served by the (lagging) replica.
            stale = await other.get(f"{MEMBERS}/{member_id}")
            assert stale.headers[READ_FROM] == "replica0"
            assert stale.json()["status"] == "pending"

            await replica_admin.execute("SELECT pg_wal_replay_resume()")
            await wait_for_replica(services)

            async def writer_back_on_the_replica() -> bool:
                response = await writer.get(f"{MEMBERS}/{member_id}")
                return response.headers[READ_FROM] == "replica0" and response.json()["status"] == "active"

            await eventually(writer_back_on_the_replica)

    async def test_a_note_written_alone_carries_its_position(
        self, routed: FastAPI, tokens: dict[Role, str], lagging_member: uuid.UUID
    ) -> None:
        """A note is one statement, written without a transaction of its own (not behind PgBouncer): its answer
        still carries the position after it, so its writer reads it while the replica lags."""
        member_id = lagging_member
        async with (
            api_client(routed, bearer(tokens, Role.moderator)) as writer,
            api_client(routed, bearer(tokens, Role.viewer)) as other,
        ):
            written = await writer.post(f"{MEMBERS}/{member_id}/notes", json={"content": "Called back"})
            assert written.status_code == 201
            assert "memberdesk_lsn=" in written.headers["set-cookie"]
            mine = await writer.get(f"{MEMBERS}/{member_id}/notes")
            assert mine.headers[READ_FROM] == "primary"
            assert [note["content"] for note in mine.json()] == ["Called back"]
            stale = await other.get(f"{MEMBERS}/{member_id}/notes")
            assert stale.headers[READ_FROM] == "replica0"
            assert stale.json() == []

    @pytest.mark.parametrize("position", ["not/a/position", "-1/0", "FFFFFFFF/FFFFFFFF", "FFFFFFFF/0"])
    async def test_a_malformed_or_made_up_position_is_ignored(
        self, routed: FastAPI, tokens: dict[Role, str], position: str
    ) -> None:
        """It does not pin the client's reads to the primary: the primary never reached it."""
        async with api_client(routed, bearer(tokens, Role.viewer)) as c:
            by_header = await c.get(MEMBERS, headers={"X-Memberdesk-LSN": position})
            c.cookies.set("memberdesk_lsn", position)
            by_cookie = await c.get(MEMBERS)
        for response in (by_header, by_cookie):
            assert response.status_code == 200
            assert response.headers[READ_FROM] == "replica0"


class TestReplicaFailure:
    async def test_reads_survive_a_stopped_replica_and_come_back_to_it(
        self, routed: FastAPI, tokens: dict[Role, str], dev_services: DevServices, services: ServiceUrls
    ) -> None:
        async with api_client(routed, bearer(tokens, Role.viewer)) as c:
            assert (await c.get(MEMBERS)).headers[READ_FROM] == "replica0"
            statuses: list[int] = []
            stop = asyncio.Event()

            async def keep_reading() -> None:
                while not stop.is_set():
                    statuses.append((await c.get(MEMBERS, params={"limit": "5"})).status_code)

            readers = [asyncio.create_task(keep_reading()) for _ in range(4)]
            try:
                await asyncio.sleep(0.3)
                await asyncio.to_thread(dev_services.stop_replica)
                await asyncio.sleep(1.0)
                ready = await c.get("/health/ready")
                assert ready.status_code == 200
                assert ready.json()["status"] == "degraded"
                assert ready.json()["replicas"][0]["status"] == "down"
                assert (await c.get(MEMBERS)).headers[READ_FROM] == "primary"
            finally:
                stop.set()
                await asyncio.gather(*readers)
                await asyncio.to_thread(dev_services.start_replica)
            assert statuses
            assert set(statuses) == {200}, f"a client saw {sorted(set(statuses))}"

            await wait_for_replica(services)

            async def back_on_the_replica() -> bool:
                return (await c.get(MEMBERS)).headers[READ_FROM] == "replica0"

            await eventually(back_on_the_replica)

    async def test_a_stopped_primary_fails_writes_fast_and_reads_go_on(
        self,
        routed: FastAPI,
        tokens: dict[Role, str],
        dev_services: DevServices,
        db: asyncpg.Pool,
        services: ServiceUrls,
    ) -> None:
        member_id = await create_member(db)  # type: ignore[arg-type]  # a pool answers like a connection
        await wait_for_replica(services)
        async with api_client(routed, bearer(tokens, Role.admin)) as c:
            await asyncio.to_thread(dev_services.stop_primary)
            try:
                async with asyncio.timeout(15):  # a hang fails here; a fast 503 passes
                    write = await c.patch(f"{MEMBERS}/{member_id}", json={"name": "Nope"})
                assert write.status_code == 503
                assert write.headers["content-type"] == "application/problem+json"
                assert write.headers["Retry-After"]
                read = await c.get(f"{MEMBERS}/{member_id}")
                assert read.status_code == 200
                assert read.headers[READ_FROM] == "replica0"
                listed = await c.get(MEMBERS, params={"limit": "3"})
                assert listed.status_code == 200
            finally:
                await asyncio.to_thread(dev_services.start_primary)
        await db.expire_connections()  # their server restarted
        assert await db.fetchval("SELECT name FROM users WHERE id = $1", member_id) == "Test Member"


class TestPool:
    async def test_exhausted_pool_answers_fast_503_or_200_never_hangs(
        self, settings: Settings, tokens: dict[Role, str]
    ) -> None:
        app = create_app(
            settings.model_copy(
                update={"database_pool_size": 10, "database_max_overflow": 0, "database_pool_timeout_seconds": 0.5}
            )
        )
        async with app.router.lifespan_context(app), api_client(app, bearer(tokens, Role.viewer)) as c:
            async with asyncio.timeout(60):
                responses = await asyncio.gather(*(c.get(MEMBERS, params={"limit": "50"}) for _ in range(300)))
        statuses = {r.status_code for r in responses}
        assert statuses <= {200, 503}
        assert 200 in statuses
        for response in responses:
            if response.status_code == 503:
                assert response.headers["Retry-After"]
                assert response.headers["content-type"] == "application/problem+json"


async def settled(client: httpx.AsyncClient) -> None:
    """Until the servers the tests above restarted serve again (pools drop their dead connections on use)."""

    async def ready() -> bool:
        health = await client.get("/health/ready")
        listed = await client.get(MEMBERS, params={"limit": "1"})
        return bool(health.json()["status"] == "ready" and listed.status_code == 200)

    await eventually(ready)


class TestObservability:
    async def test_server_timing_and_request_id(self, client: httpx.AsyncClient) -> None:
        await settled(client)
        response = await client.get(MEMBERS, headers={"X-Request-ID": "abc-123"})
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"] == "abc-123"
        timing = response.headers["Server-Timing"]
        assert "db;dur=" in timing
        assert "statements" in timing
        assert 'desc="0 statements"' not in timing

    async def test_metrics(self, client: httpx.AsyncClient) -> None:
        await settled(client)
        listed = await client.get(MEMBERS)
        assert listed.status_code == 200, listed.text
        response = await client.get("/metrics")
        assert response.status_code == 200
        text = response.text
        assert 'memberdesk_reads_total{server="replica0"}' in text
        assert 'memberdesk_request_seconds_bucket{le="0.005",method="GET",route="/api/v1/admin/members"}' in text, [
            line for line in text.splitlines() if "request_seconds_count" in line
        ]
        assert 'memberdesk_responses_total{method="GET",route="/api/v1/admin/members",status="200"}' in text
        assert 'memberdesk_db_pool_checked_out{server="primary"}' in text
        assert 'memberdesk_replica_healthy{replica="replica0"}' in text
        assert "# TYPE memberdesk_replica_lag_bytes gauge" in text
        assert 'memberdesk_outbox_events{status="dead"}' in text
