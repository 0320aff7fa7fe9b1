"""Sessions: reads on the replica inside READ ONLY transactions, writes on the primary."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import event, make_url, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from backend.api.state import app_state
from backend.infrastructure.database import PING_AFTER_IDLE_SECONDS, Database
from backend.infrastructure.database_errors import is_timed_out, is_unavailable, violated_constraint
from backend.infrastructure.driver import fetch, fetch_in_transaction
from backend.infrastructure.replication import lsn_to_int, parse_lsn
from backend.infrastructure.settings import Settings
from devtools.services import ServiceUrls
from tests.conftest import asyncpg_dsn


@pytest.fixture
async def replica_admin(services: ServiceUrls) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the replica (to pause its replay)."""
    conn = await asyncpg.connect(asyncpg_dsn(services.superuser_replica_urls[0]))
    try:
        yield conn
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


class TestReadSession:
    async def test_reads_come_from_the_replica(self, app: FastAPI) -> None:
        database = app_state(app).database
        target = await database.read_target()
        assert target.name.startswith("replica")
        async with target.sessions() as session:
            assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is True

    async def test_statements_run_without_jit_or_parallel_workers(self, app: FastAPI) -> None:
        database = app_state(app).database
        for sessions in ((await database.read_target()).sessions, database.write_sessions):
            async with sessions() as session:
                assert (await session.execute(text("SHOW jit"))).scalar_one() == "off"
                assert (await session.execute(text("SHOW max_parallel_workers_per_gather"))).scalar_one() == "0"

    async def test_a_write_through_a_read_session_fails(self, app: FastAPI) -> None:
        database = app_state(app).database
        async with database.primary_reads.sessions() as session:
            assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is False
            assert (await session.execute(text("SHOW transaction_read_only"))).scalar_one() == "on"
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await session.execute(text("UPDATE users SET name = name WHERE false"))

    async def test_without_replicas_reads_use_the_primary_still_read_only(self, settings: Settings) -> None:
        database = Database.from_settings(settings.model_copy(update={"database_replica_urls": []}))
        try:
            target = await database.read_target()
            assert target.name == "primary"
            async with target.sessions() as session:
                assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is False
                assert (await session.execute(text("SHOW transaction_read_only"))).scalar_one() == "on"
        finally:
            await database.dispose()

    async def test_write_sessions_are_read_write_on_the_primary(self, app: FastAPI) -> None:
        database = app_state(app).database
        async with database.write_sessions() as session:
            assert (await session.execute(text("SHOW transaction_read_only"))).scalar_one() == "off"
            assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is False
            await session.rollback()


class TestPingAfterIdle:
    """The primary's pool pings a connection only after it waited PING_AFTER_IDLE_SECONDS (docs/decisions.md, "A
    pre-ping after an idle second")."""

    async def _backend_pid(self, database: Database) -> int:
        async with database.write_session() as session:
            pid: int = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await session.rollback()
        return pid

    async def test_a_connection_back_a_moment_ago_is_handed_out_without_a_ping(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        database = Database.from_settings(settings)
        pings: list[object] = []
        real = database.primary.dialect.do_ping

        def counted(conn: Any) -> bool:
            pings.append(conn)
            return real(conn)

        monkeypatch.setattr(database.primary.dialect, "do_ping", counted)
        try:
            first = await self._backend_pid(database)
            assert await self._backend_pid(database) == first
            assert pings == []
            await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.1)
            assert await self._backend_pid(database) == first
            assert len(pings) == 1
        finally:
            await database.dispose()

    async def test_a_connection_lost_while_it_waited_is_replaced_before_use(
        self, settings: Settings, db: asyncpg.Pool
    ) -> None:
        database = Database.from_settings(settings)
        try:
            lost = await self._backend_pid(database)
            assert await db.fetchval("SELECT pg_terminate_backend($1)", lost)
            await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.1)
            replaced = await self._backend_pid(database)  # no error: the ping found it dead
            assert replaced != lost
            # Back a moment ago, it is not pinged: its loss is the request's error (and the pool then drops it).
            assert await db.fetchval("SELECT pg_terminate_backend($1)", replaced)
            await asyncio.sleep(0.1)
            with pytest.raises(DBAPIError) as failed:
                await self._backend_pid(database)
            assert is_unavailable(failed.value)
            assert await self._backend_pid(database) not in (lost, replaced)
        finally:
            await database.dispose()


class TestStatementTimeout:
    async def test_a_cancelled_statement_is_a_timeout_not_an_unavailable_server(self, settings: Settings) -> None:
        """asyncpg files a statement timeout under operator intervention, as it does a shutdown: the server
        answered, so it must not be taken out of rotation nor its pool's connections thrown away."""
        database = Database.from_settings(settings.model_copy(update={"database_statement_timeout_ms": 50}))
        try:
            target = await database.read_target()
            errors: list[BaseException] = []
            async with target.sessions() as session:
                try:
                    await session.execute(text("SELECT pg_sleep(5)"))  # through SQLAlchemy
                except DBAPIError as exc:
                    errors.append(exc)
            async with target.sessions() as session:
                try:
                    await fetch(session, "SELECT pg_sleep(5)")  # straight through the driver
                except asyncpg.PostgresError as exc:
                    errors.append(exc)
            assert len(errors) == 2
            for error in errors:
                assert is_timed_out(error)
                assert not is_unavailable(error)
        finally:
            await database.dispose()


async def test_a_violated_constraint_is_named_through_sqlalchemy_and_straight_from_the_driver(
    app: FastAPI, services: ServiceUrls
) -> None:
    """What a write refused by a unique index maps to a 409 by: the index's name as PostgreSQL reports it."""
    database = app_state(app).database
    duplicate = "SELECT * FROM (VALUES (1), (1)) AS v(n)"
    create = "CREATE TEMPORARY TABLE unique_names (n int CONSTRAINT uq_unique_names_n UNIQUE)"
    errors: list[BaseException] = []
    async with database.write_sessions() as session, session.begin():
        await session.execute(text(create))
        with pytest.raises(IntegrityError) as through_sqlalchemy:
            await session.execute(text(f"INSERT INTO unique_names {duplicate}"))
        errors.append(through_sqlalchemy.value)
        await session.rollback()
    driver = await asyncpg.connect(asyncpg_dsn(services.database_url))
    try:
        transaction = driver.transaction()  # rolled back: the table goes with it
        await transaction.start()
        await driver.execute(create)
        with pytest.raises(asyncpg.UniqueViolationError) as from_the_driver:
            await driver.execute(f"INSERT INTO unique_names {duplicate}")
        errors.append(from_the_driver.value)
        await transaction.rollback()
    finally:
        await driver.close()
    for error in errors:
        assert violated_constraint(error) == "uq_unique_names_n"
    async with database.write_sessions() as session, session.begin():
        with pytest.raises(DBAPIError) as other:
            await session.execute(text("SELECT 1 / 0"))
        await session.rollback()
    assert violated_constraint(other.value) is None


class TestFetchInTransaction:
    """Statements run below SQLAlchemy's execution, in the session's transaction: its commit and rollback end them."""

    _MARK = "INSERT INTO fetch_marks (key) VALUES ($1) RETURNING key"

    async def test_the_session_commits_and_rolls_back_what_ran(
        self, app: FastAPI, db: asyncpg.Pool, settings: Settings
    ) -> None:
        database = app_state(app).database
        role = make_url(str(settings.database_url)).username
        await db.execute("CREATE TABLE fetch_marks (key text PRIMARY KEY)")
        await db.execute(f'GRANT ALL ON fetch_marks TO "{role}"')
        kept, dropped, second = "kept", "dropped", "second"
        try:
            async with database.write_session() as session:
                rows = await fetch_in_transaction(session, self._MARK, [dropped])
                assert [row["key"] for row in rows] == [dropped]
                await session.rollback()
                # The next transaction of the same session: begun anew, and committed by the session.
                await fetch_in_transaction(session, self._MARK, [kept])
                await session.commit()
                await fetch_in_transaction(session, self._MARK, [second])
                await session.commit()
            stored = await db.fetch("SELECT key FROM fetch_marks ORDER BY key")
            assert [row["key"] for row in stored] == [kept, second]
        finally:
            await db.execute("DROP TABLE fetch_marks")

    async def test_errors_are_sqlalchemy_s_and_the_connection_stays_usable(self, app: FastAPI) -> None:
        database = app_state(app).database
        async with database.write_session() as session:
            await fetch_in_transaction(session, "CREATE TEMPORARY TABLE once (n int CONSTRAINT uq_once_n UNIQUE)", [])
            with pytest.raises(IntegrityError) as refused:
                await fetch_in_transaction(session, "INSERT INTO once VALUES (1), (1)", [])
            assert violated_constraint(refused.value) == "uq_once_n"
            assert not refused.value.connection_invalidated
            await session.rollback()
            assert [row["n"] for row in await fetch_in_transaction(session, "SELECT 1 AS n", [])] == [1]
            await session.rollback()


class TestCommitPosition:
    @pytest.mark.parametrize("held", [True, False], ids=["own-connection", "second-connection"])
    @pytest.mark.parametrize("synchronous_commit", ["on", "off"])
    async def test_the_position_covers_the_commit_whatever_synchronous_commit_says(
        self, settings: Settings, db: asyncpg.Pool, synchronous_commit: str, held: bool
    ) -> None:
        # As a DBA would set it: for the app's role, so that every new connection of the pool has it.
        role = make_url(str(settings.database_url)).username
        await db.execute(f'ALTER ROLE "{role}" SET synchronous_commit = {synchronous_commit}')
        database = Database.from_settings(settings)
        walwriter = await db.fetchval("SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'")
        try:
            async with database.write_session() if held else database.write_sessions() as session:
                # With the WAL writer stopped, an asynchronous commit's record stays unflushed for a while.
                try:
                    os.kill(walwriter, signal.SIGSTOP)
                except PermissionError:
                    pytest.skip("the tests cannot signal the PostgreSQL server's processes")
                try:
                    await session.execute(text("SELECT pg_logical_emit_message(true, 'memberdesk-test', 'x')"))
                    inside = (await session.execute(text("SELECT pg_current_wal_insert_lsn()::text"))).scalar_one()
                    await session.commit()
                    position = await database.commit_position(session)
                finally:
                    os.kill(walwriter, signal.SIGCONT)
        finally:
            await db.execute(f'ALTER ROLE "{role}" RESET synchronous_commit')
            await database.dispose()
        # The commit record comes after everything the transaction wrote.
        assert position > lsn_to_int(inside)

    async def test_a_held_session_reads_it_on_its_own_connection_after_the_commit(self, settings: Settings) -> None:
        """No second checkout (nor its pre-ping, BEGIN and ROLLBACK): one statement on the committing connection,
        outside any transaction, so after the commit record."""
        database = Database.from_settings(settings)
        checkouts: list[object] = []
        event.listen(database.primary.sync_engine.pool, "checkout", lambda *args: checkouts.append(args))
        try:
            async with database.write_session() as session:
                backend = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await session.execute(text("SELECT pg_logical_emit_message(true, 'memberdesk-test', 'x')"))
                inside = (await session.execute(text("SELECT pg_current_wal_insert_lsn()::text"))).scalar_one()
                await session.commit()
                position = await database.commit_position(session)
                assert not session.in_transaction()
                # The session goes on on the same connection.
                assert (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one() == backend
                await session.rollback()
        finally:
            await database.dispose()
        assert len(checkouts) == 1
        assert position > lsn_to_int(inside)


class TestReplicaRouting:
    async def test_reads_spread_over_healthy_replicas_and_skip_a_sick_one(self, settings: Settings) -> None:
        # Two replica entries (both on the test replica) stand for two replicas.
        replica = str(settings.database_replica_urls[0])
        database = Database.from_settings(settings.model_copy(update={"database_replica_urls": [replica, replica]}))
        try:
            await database.monitor.check()
            chosen = [(await database.read_target()).name for _ in range(6)]
            assert sorted(set(chosen)) == ["replica0", "replica1"]
            assert chosen.count("replica0") == chosen.count("replica1") == 3
            database.monitor.mark_down("replica1", "test")
            assert {(await database.read_target()).name for _ in range(4)} == {"replica0"}
            database.monitor.mark_down("replica0", "test")
            assert (await database.read_target()).name == "primary"
            await database.monitor.check()  # a probe brings them back
            assert {(await database.read_target()).name for _ in range(4)} == {"replica0", "replica1"}
        finally:
            await database.dispose()

    async def test_a_position_ahead_of_every_replica_reads_from_the_primary(
        self, settings: Settings, db: asyncpg.Pool, replica_admin: asyncpg.Connection
    ) -> None:
        database = Database.from_settings(settings)
        try:
            await database.monitor.check()
            health = database.monitor.health["replica0"]
            assert health.replay_lsn is not None
            assert (await database.read_target(min_lsn=health.replay_lsn)).name == "replica0"
            await replica_admin.execute("SELECT pg_wal_replay_pause()")
            # A commit the replica has not replayed, made after the monitor last saw the primary.
            await db.execute("SELECT pg_logical_emit_message(true, 'memberdesk-test', 'x')")
            written = lsn_to_int(await db.fetchval("SELECT pg_current_wal_flush_lsn()::text"))
            assert database.monitor.primary_position is not None
            assert written > database.monitor.primary_position
            assert (await database.read_target(min_lsn=written)).name == "primary"
        finally:
            await replica_admin.execute("SELECT pg_wal_replay_resume()")
            await database.dispose()

    async def test_a_position_the_primary_never_reached_is_ignored(self, settings: Settings, db: asyncpg.Pool) -> None:
        database = Database.from_settings(settings)
        try:
            await database.monitor.check()
            primary_at = lsn_to_int(await db.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
            for made_up in (primary_at + 10**12, lsn_to_int("FFFFFFFF/FFFFFFFF")):
                assert (await database.read_target(min_lsn=made_up)).name == "replica0"
        finally:
            await database.dispose()

    async def test_concurrent_made_up_positions_share_their_checks_of_the_primary(self, settings: Settings) -> None:
        database = Database.from_settings(settings)
        try:
            await database.monitor.check()
            reads = 0
            read_primary = database.monitor._read_primary_position

            async def counted() -> int | None:
                nonlocal reads
                reads += 1
                return await read_primary()

            database.monitor._read_primary_position = counted  # type: ignore[method-assign]
            made_up = lsn_to_int("FFFFFFFF/FFFFFFFF")
            targets = await asyncio.gather(*(database.read_target(min_lsn=made_up) for _ in range(50)))
            assert {target.name for target in targets} == {"replica0"}
            # Each caller waits for a read that began after it asked; the fifty share at most two.
            assert 1 <= reads <= 2
        finally:
            await database.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0/0", 0),
        ("16/B374D848", (0x16 << 32) | 0xB374D848),
        ("ffffffff/ffffffff", 2**64 - 1),
        (" 1/2 ", (1 << 32) | 2),
        (None, None),
        ("", None),
        ("not/a/position", None),
        ("1/2/3", None),
        ("-1/0", None),
        ("+1/0", None),
        ("1_0/0", None),
        ("0x1/0", None),
        ("1 /2", None),
        ("\uff11/\uff12", None),  # full-width digits, which int() would take
        ("123456789/0", None),
        ("1/\x00", None),
    ],
)
def test_a_client_position_is_exactly_postgresql_s_form(value: str | None, expected: int | None) -> None:
    assert parse_lsn(value) == expected
