"""WriteSession: the request's transaction commits before the response is sent and rolls back on error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.api.context import LSN_HEADER
from backend.api.deps import WriteSession
from backend.infrastructure.database import Database
from backend.infrastructure.settings import Settings
from backend.main import create_app

NOTE = "INSERT INTO outbox (topic, payload) VALUES (:topic, '{}'::jsonb)"


@pytest.fixture(scope="module")
async def probe(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with three probe routes that write through WriteSession."""
    app: FastAPI = create_app(settings)

    @app.post("/probe/commit/{topic}")
    async def commit(topic: str, session: WriteSession) -> dict[str, str]:
        await session.execute(text(NOTE), {"topic": topic})
        return {"written": topic}

    @app.post("/probe/raise/{topic}")
    async def fail(topic: str, session: WriteSession) -> dict[str, str]:
        await session.execute(text(NOTE), {"topic": topic})
        raise RuntimeError("after the write")

    @app.post("/probe/commit-fails/{topic}")
    async def commit_fails(topic: str, session: WriteSession) -> dict[str, str]:
        # A deferred foreign key is checked only at COMMIT, after the endpoint has returned.
        await session.execute(
            text(
                "CREATE TEMP TABLE probe_ref (user_id uuid REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED)"
                " ON COMMIT DROP"
            )
        )
        await session.execute(text("INSERT INTO probe_ref VALUES (gen_random_uuid())"))
        await session.execute(text(NOTE), {"topic": topic})
        return {"written": topic}

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            yield client


async def _written(db: asyncpg.Connection, topic: str) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic)
    return count


class TestWriteSession:
    async def test_commits_before_the_response(self, probe: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        topic = f"probe-{uuid.uuid4().hex[:8]}"
        response = await probe.post(f"/probe/commit/{topic}")
        assert response.status_code == 200
        # Visible to another connection the moment the response arrives.
        assert await _written(db, topic) == 1
        await db.execute("DELETE FROM outbox WHERE topic = $1", topic)

    async def test_rolls_back_when_the_endpoint_raises(self, probe: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        topic = f"probe-{uuid.uuid4().hex[:8]}"
        response = await probe.post(f"/probe/raise/{topic}")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert await _written(db, topic) == 0

    async def test_a_failing_commit_reaches_the_client(self, probe: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        topic = f"probe-{uuid.uuid4().hex[:8]}"
        response = await probe.post(f"/probe/commit-fails/{topic}")
        assert response.status_code >= 500, "a write that failed at COMMIT was answered as a success"
        assert await _written(db, topic) == 0

    async def test_a_server_lost_right_after_the_commit_still_answers_the_write(
        self, probe: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`make chaos` found it: PgBouncer restarting between the COMMIT and the query for the commit's WAL position
        turned committed writes into 503s (a client without an Idempotency-Key could not tell they were done)."""

        async def gone(self: Database, session: object) -> int:
            raise DBAPIError(
                "SELECT pg_current_wal_flush_lsn()",
                None,
                ConnectionResetError("restarted"),
                connection_invalidated=True,
            )

        monkeypatch.setattr(Database, "commit_position", gone)
        topic = f"probe-{uuid.uuid4().hex[:8]}"
        response = await probe.post(f"/probe/commit/{topic}")
        assert response.status_code == 200
        assert await _written(db, topic) == 1
        assert LSN_HEADER not in response.headers  # no position to give
        await db.execute("DELETE FROM outbox WHERE topic = $1", topic)
