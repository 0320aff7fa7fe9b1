"""UserDataLoader: relations in parallel, never two statements at once on one session."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.pool import QueuePool

from backend.api.state import app_state
from backend.domain.member.loader import LoaderKind, Relation, UserDataLoader, load_detail
from backend.domain.member.service import detail_of


class StatementTracker:
    """Counts statements in flight, per DBAPI connection and overall, from engine events."""

    def __init__(self) -> None:
        self.in_flight: Counter[int] = Counter()
        self.max_per_connection = 0
        self.max_overall = 0
        self.connections: set[int] = set()

    def before(self, conn: Any, *_: Any) -> None:
        key = id(conn.connection.dbapi_connection)
        self.connections.add(key)
        self.in_flight[key] += 1
        self.max_per_connection = max(self.max_per_connection, self.in_flight[key])
        self.max_overall = max(self.max_overall, sum(self.in_flight.values()))

    def after(self, conn: Any, *_: Any) -> None:
        self.in_flight[id(conn.connection.dbapi_connection)] -= 1


async def _member_id(db: asyncpg.Connection) -> uuid.UUID:
    member_id: uuid.UUID = await db.fetchval(
        "SELECT user_id FROM user_photos WHERE deleted_at IS NULL GROUP BY user_id HAVING count(*) > 1 LIMIT 1"
    )
    return member_id


class TestUserDataLoader:
    async def test_branches_run_in_parallel_each_on_its_own_connection(
        self, app: FastAPI, db: asyncpg.Connection
    ) -> None:
        database = app_state(app).database
        target = await database.read_target()
        tracker = StatementTracker()
        sync_engine = target.engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", tracker.before)
        event.listen(sync_engine, "after_cursor_execute", tracker.after)
        # Slow every statement a little so that overlapping branches really overlap.
        sleep = "SELECT pg_sleep(0.05)"

        def slow(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement != sleep:
                cursor.execute(sleep)

        event.listen(sync_engine, "before_cursor_execute", slow)
        try:
            member_id = await _member_id(db)
            relations = await UserDataLoader(target.sessions).load(member_id)
        finally:
            event.remove(sync_engine, "before_cursor_execute", slow)
            event.remove(sync_engine, "before_cursor_execute", tracker.before)
            event.remove(sync_engine, "after_cursor_execute", tracker.after)

        assert len(relations.photos) > 1
        assert relations.profile is not None
        assert tracker.max_per_connection == 1, "two statements ran at once on one connection"
        assert len(tracker.connections) >= 2
        assert tracker.max_overall > 1, "the branches did not run in parallel"

    async def test_loads_only_what_is_asked(self, app: FastAPI, db: asyncpg.Connection) -> None:
        target = await app_state(app).database.read_target()
        member_id = await _member_id(db)
        relations = await UserDataLoader(target.sessions).load(member_id, [Relation.photos])
        assert relations.photos
        assert relations.profile is None

    async def test_a_failing_branch_fails_the_load_and_closes_every_session(self, app: FastAPI) -> None:
        target = await app_state(app).database.read_target()
        pool = target.engine.pool
        assert isinstance(pool, QueuePool)
        checked_out_before = pool.checkedout()

        class Boom(Exception):
            pass

        loader = UserDataLoader(target.sessions)
        original = loader._branch

        async def failing(relation: Relation, member_id: uuid.UUID) -> Any:
            if relation is Relation.documents:
                raise Boom
            return await original(relation, member_id)

        loader._branch = failing  # type: ignore[method-assign]
        try:
            await loader.load(uuid.uuid4())
        except* Boom:
            pass
        else:
            raise AssertionError("the failure was swallowed")
        await asyncio.sleep(0)
        assert pool.checkedout() <= checked_out_before  # nothing leaked (background probes may come and go)


async def test_the_three_loaders_give_the_same_detail(app: FastAPI, db: asyncpg.Connection) -> None:
    """joined (one statement), sequential and parallel load the same member the same way."""
    target = await app_state(app).database.read_target()
    member_id = await _member_id(db)
    details = {}
    async with target.sessions() as session:
        for kind in LoaderKind:
            row = await load_detail(kind, session, target.sessions, member_id)
            assert row is not None
            detail = await detail_of(row, app_state(app).storage)
            details[kind] = detail.model_dump(
                mode="json", exclude={"photos": {"__all__": {"url"}}, "documents": {"__all__": {"url"}}}
            )
    assert details[LoaderKind.joined] == details[LoaderKind.sequential] == details[LoaderKind.parallel]
    assert details[LoaderKind.joined]["photos"]
    async with target.sessions() as session:
        assert await load_detail(LoaderKind.joined, session, None, uuid.uuid4()) is None
