"""Engines and session factories: writes on the primary, reads on a replica, read-only either way.

A session is bound to one engine for its whole life (SQLAlchemy advises against a session that routes
statements between engines), so a request chooses its reader or writer up front.

Read engines run in autocommit on connections opened with `default_transaction_read_only=on`: every
statement is a read-only transaction of its own, so a read costs one round trip instead of three (BEGIN
READ ONLY, the statement, ROLLBACK), and a write that slips into a read session still fails in PostgreSQL.
A read that needs one snapshot across statements asks for it in one statement. Behind PgBouncer, which
refuses unknown startup parameters, reads keep explicit `BEGIN READ ONLY` transactions instead.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from backend.infrastructure.database_errors import is_unavailable
from backend.infrastructure.driver import OneStatement, fetch_outside_transaction
from backend.infrastructure.replication import LagBounds, ReplicaMonitor, lsn_to_int
from backend.infrastructure.settings import Settings

logger = logging.getLogger(__name__)


class AsyncWriteSession(AsyncSession):
    """A session on the primary. Only the request's session dependency commits it."""


class AsyncReadSession(AsyncSession):
    """A session on a replica (or the primary) whose every statement runs in a read-only transaction.

    A distinct type from `AsyncWriteSession`, so passing one where a write is expected fails type checking;
    a write that slips through anyway fails in PostgreSQL ("cannot execute ... in a read-only transaction").
    """


ReadSessionFactory = async_sessionmaker[AsyncReadSession]
WriteSessionFactory = async_sessionmaker[AsyncWriteSession]


@dataclass(frozen=True)
class ReadTarget:
    """One server reads can go to, with the session factory bound to it."""

    name: str
    engine: AsyncEngine
    sessions: ReadSessionFactory


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def _connect_args(settings: Settings, *, read_only: bool = False) -> dict[str, Any]:
    server_settings = {"application_name": "memberdesk"}
    args: dict[str, Any] = {"timeout": settings.database_connect_timeout_seconds, "server_settings": server_settings}
    if settings.database_pgbouncer:
        # PgBouncer in transaction mode hands each transaction a different server connection, so neither
        # asyncpg's nor SQLAlchemy's prepared statement cache may be used, and names must never collide.
        args["statement_cache_size"] = 0
        args["prepared_statement_cache_size"] = 0
        args["prepared_statement_name_func"] = _unique_statement_name
        # PgBouncer rejects other startup parameters: read-only-ness comes from BEGIN READ ONLY instead, and the
        # rest is the role's to set (README, "PgBouncer").
        return args
    # No JIT: short statements with a high estimate paid for a compile; no parallel workers: a request's statement
    # shares the server's CPUs with the other requests' (docs/decisions.md: "JIT off").
    server_settings |= {"jit": "off", "max_parallel_workers_per_gather": "0"}
    if read_only:
        server_settings["default_transaction_read_only"] = "on"
    if settings.database_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.database_statement_timeout_ms)
    return args


PING_AFTER_IDLE_SECONDS = 1.0
"""A primary connection that waited longer than this in the pool is pinged before it is handed out
(docs/decisions.md, "A pre-ping after an idle second")."""

_RETURNED_AT = "memberdesk_returned_at"


def create_engine(url: str, settings: Settings, *, read_only: bool = False, pre_ping: bool = True) -> AsyncEngine:
    """An asyncpg engine with the pool bounds and timeouts from settings.

    `read_only`: autocommit on read-only connections (see the module's docstring). Replicas go without a
    pre-ping (docs/decisions.md: "No pre-ping on replicas"); with `pre_ping`, a connection is pinged when it
    waited in the pool for PING_AFTER_IDLE_SECONDS or more (`_ping_after_idle`).
    """
    options: dict[str, Any] = {}
    if read_only:
        options["isolation_level"] = "READ COMMITTED" if settings.database_pgbouncer else "AUTOCOMMIT"
    engine = create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        pool_recycle=1800,
        connect_args=_connect_args(settings, read_only=read_only),
        json_deserializer=orjson.loads,  # jsonb values (a detail's relations) decoded several times faster
        **options,
    )
    if pre_ping:
        _ping_after_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """SQLAlchemy's pre-ping, for connections that waited in the pool `idle_seconds` or more only.

    A connection back from a request a moment ago is handed out as it is: a server that went away in that moment
    failed that request's neighbours too, and the first error on it makes the pool drop every connection older than
    the error (SQLAlchemy's invalidation on a disconnect). One that waited longer, where a restart, a proxy's idle
    timeout or a network drop could have passed unseen, is pinged; when the ping fails the pool replaces the
    connection (DisconnectionError: up to three new attempts) and the request never sees it."""
    pool = engine.sync_engine.pool
    dialect = engine.dialect

    def returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        at = record.info.get(_RETURNED_AT)
        if at is not None and time.monotonic() - at < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc

    event.listen(pool, "connect", returned)  # a new connection needs no ping
    event.listen(pool, "checkin", returned)
    event.listen(pool, "checkout", ping_if_idle)


def create_probe_engine(url: str, settings: Settings) -> AsyncEngine:
    """A small pool of its own for health probes.

    Its own, so that a busy request pool cannot make a healthy server look dead; pooled, because a probe
    every second on a new connection costs a server process and a SCRAM handshake each time, and those
    stalls showed in every request's tail latency. The pre-ping replaces a connection that died with its
    server before the probe judges the server.
    """
    return create_async_engine(
        url,
        pool_size=1,
        max_overflow=4,
        pool_timeout=settings.replica_probe_timeout_seconds,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=_connect_args(settings),
    )


def read_sessions(engine: AsyncEngine, *, autocommit: bool) -> ReadSessionFactory:
    """Sessions on a read engine: autocommit ones as they are, the others in `BEGIN READ ONLY` transactions."""
    return async_sessionmaker(
        bind=engine if autocommit else engine.execution_options(postgresql_readonly=True),
        class_=AsyncReadSession,
        expire_on_commit=False,
        autoflush=False,
    )


DEFAULT_BOUNDS = LagBounds(max_bytes=16 * 1024 * 1024, max_seconds=30.0, probe_timeout=1.0)


_COMMIT_POSITION = (
    "SELECT CASE current_setting('synchronous_commit') WHEN 'off' THEN pg_current_wal_insert_lsn()"
    " ELSE pg_current_wal_flush_lsn() END::text AS position"
)


async def commit_asynchronously(session: AsyncWriteSession) -> None:
    """Let the session's current transaction commit without waiting for its WAL to reach the disk (PostgreSQL's
    synchronous_commit off, for this transaction only). Visible at once; durable once a later synchronous commit
    has flushed the WAL past it: see `flush_commits`."""
    await session.execute(text("SET LOCAL synchronous_commit = off"))


async def flush_commits(session: AsyncWriteSession) -> None:
    """Return once every commit made so far on the primary, asynchronous ones included, is on disk.

    A transaction that has a transaction id writes a commit record, and with synchronous_commit on its COMMIT waits
    until the WAL is flushed up to that record: the WAL is one sequence, so everything written before it is flushed
    too. One such commit makes a run of asynchronous commits durable at the cost of one flush instead of one each.
    """
    async with session.begin():
        await session.execute(text("SELECT pg_current_xact_id()"))


class Database:
    """The primary's engine and the replicas' engines, built once for the app's life, and read routing."""

    def __init__(
        self,
        primary: AsyncEngine,
        replicas: Sequence[AsyncEngine] = (),
        bounds: LagBounds = DEFAULT_BOUNDS,
        probes: tuple[AsyncEngine, Sequence[AsyncEngine]] | None = None,
        *,
        primary_reader: AsyncEngine | None = None,
        autocommit_reads: bool = False,
    ) -> None:
        """`replicas` and `primary_reader` are read engines (autocommit when `autocommit_reads`); without a
        `primary_reader`, reads on the primary share its engine in READ ONLY transactions. `autocommit_reads` also
        says that a statement may run outside a transaction at all (not behind PgBouncer): the commit's position is
        then read on the committing connection (`commit_position`)."""
        self.primary = primary
        self._outside_transactions = autocommit_reads
        self.write_sessions: WriteSessionFactory = async_sessionmaker(
            bind=primary, class_=AsyncWriteSession, expire_on_commit=False, autoflush=False
        )
        self._primary_reader = primary_reader
        self.primary_reads = ReadTarget(
            "primary",
            primary_reader or primary,
            read_sessions(primary_reader or primary, autocommit=autocommit_reads and primary_reader is not None),
        )
        self.replicas = tuple(
            ReadTarget(f"replica{index}", engine, read_sessions(engine, autocommit=autocommit_reads))
            for index, engine in enumerate(replicas)
        )
        self._by_name = {target.name: target for target in self.replicas}
        probe_primary, probe_replicas = probes or (primary, replicas)
        self._probe_engines = (probe_primary, *probe_replicas) if probes else ()
        self.monitor = ReplicaMonitor(
            probe_primary, {t.name: e for t, e in zip(self.replicas, probe_replicas, strict=True)}, bounds
        )
        self._turn = itertools.count()

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """Engines for the configured primary and replicas."""
        bounds = LagBounds(
            max_bytes=settings.replica_max_lag_bytes,
            max_seconds=settings.replica_max_lag_seconds,
            probe_timeout=settings.replica_probe_timeout_seconds,
        )
        replica_urls = [str(url) for url in settings.database_replica_urls]
        return cls(
            create_engine(str(settings.database_url), settings),
            [create_engine(url, settings, read_only=True, pre_ping=False) for url in replica_urls],
            bounds,
            probes=(
                create_probe_engine(str(settings.database_url), settings),
                [create_probe_engine(url, settings) for url in replica_urls],
            ),
            primary_reader=create_engine(str(settings.database_url), settings, read_only=True),
            autocommit_reads=not settings.database_pgbouncer,
        )

    async def read_target(self, min_lsn: int | None = None, avoid: Collection[str] = ()) -> ReadTarget:
        """Where the next read goes: a healthy replica in turn (one that has replayed `min_lsn` when given),
        or the primary when no replica qualifies."""
        healthy = self.monitor.healthy(name for name in self._by_name if name not in avoid)
        if not healthy:
            return self.primary_reads
        if min_lsn is not None and not await self.monitor.reached_by_primary(min_lsn):
            min_lsn = None  # a position no commit gave out: ignored, so it pins nothing to the primary
        start = next(self._turn) % len(healthy)
        for name in healthy[start:] + healthy[:start]:
            if min_lsn is None or await self.monitor.caught_up(name, min_lsn):
                return self._by_name[name]
        return self.primary_reads

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncWriteSession]:
        """A write session on one primary connection, held until the session closes: its transactions (one or many)
        all run on it, and what follows a commit (`commit_position`) too, without another checkout and pre-ping."""
        async with self.primary.connect() as connection, self.write_sessions(bind=connection) as session:
            yield session

    @property
    def writes_statements_alone(self) -> bool:
        """Whether a write of one statement may run alone (`one_statement`): not behind PgBouncer."""
        return self._outside_transactions

    @asynccontextmanager
    async def one_statement(self) -> AsyncIterator[OneStatement]:
        """A write of one statement, alone, on a primary connection held until it closes (the commit's position is
        read on it after). Only where `writes_statements_alone`."""
        assert self._outside_transactions, "behind PgBouncer a statement runs in a session's transaction"
        async with self.primary.connect() as connection:
            yield OneStatement(connection, await connection.get_raw_connection())

    async def commit_position(self, written: AsyncWriteSession | OneStatement) -> int:
        """The primary's WAL position after the session's commit (or the one statement's): replicas past it have the
        write.

        The flush position when COMMIT waited for its record to be flushed (synchronous_commit on, PostgreSQL's
        default, or remote_*): the insert position could name WAL not yet flushed, hence not yet streamable,
        and keep the client on the primary for no reason. With synchronous_commit off, COMMIT returns before
        the flush, so only the insert position is sure to cover the commit record. The setting is read on the
        connection this query runs on, outside any transaction, so it is the server's, database's or role's (or
        the connection's): a transaction that turned synchronous_commit off for itself alone (SET LOCAL) is not
        seen.

        A session of `write_session`, or a `one_statement`, asks on its own connection, after the commit, in one
        round trip outside any transaction (the position is global, so any connection would do; this one is at
        hand). Elsewhere (a session bound to the engine, or behind PgBouncer, where a statement outside a
        transaction may not run on the same server connection as its parse) it takes a connection and a read-only
        transaction of its own.
        """
        bind = written.bind
        if isinstance(written, OneStatement):
            value = (await written.read_after(_COMMIT_POSITION))[0]["position"]
        elif self._outside_transactions and isinstance(bind, AsyncConnection) and not bind.in_transaction():
            value = (await fetch_outside_transaction(bind, _COMMIT_POSITION))[0]["position"]
        else:
            value = (await written.execute(text(_COMMIT_POSITION))).scalar_one()
            await written.rollback()
        position = lsn_to_int(str(value))
        self.monitor.saw_primary_at(position)
        return position

    async def position_after_commit(self, written: AsyncWriteSession | OneStatement) -> int | None:
        """`commit_position`, or None when the server went out of reach right after the commit (a PgBouncer restart,
        `make chaos` found): the write is committed, so its request must not be answered as failed. The answer then
        carries no position, and the client's next read may come from a replica that has not replayed the write yet
        (a made-up position would not help: one the primary never reached is ignored)."""
        try:
            return await self.commit_position(written)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            logger.warning("committed, but the commit's position could not be read: %s", type(exc).__name__)
            return None

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.primary.dispose()
        readers = (*((self._primary_reader,) if self._primary_reader else ()), *(r.engine for r in self.replicas))
        for engine in (*readers, *self._probe_engines):
            await engine.dispose()
