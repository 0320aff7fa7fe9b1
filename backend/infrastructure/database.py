"""Engines and session factories: writes on the primary, reads on a replica in READ ONLY transactions.

A session is bound to one engine for its whole life (SQLAlchemy advises against a session that routes
statements between engines), so a request chooses its reader or writer up front.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from backend.infrastructure.settings import Settings


class AsyncWriteSession(AsyncSession):
    """A session on the primary. Only the request's session dependency commits it."""


class AsyncReadSession(AsyncSession):
    """A session on a replica (or the primary), always inside a READ ONLY transaction.

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


def _connect_args(settings: Settings) -> dict[str, Any]:
    args: dict[str, Any] = {
        "timeout": settings.database_connect_timeout_seconds,
        "server_settings": {"application_name": "memberdesk"},
    }
    if settings.database_statement_timeout_ms:
        args["server_settings"]["statement_timeout"] = str(settings.database_statement_timeout_ms)
    if settings.database_pgbouncer:
        # PgBouncer in transaction mode hands each transaction a different server connection, so neither
        # asyncpg's nor SQLAlchemy's prepared statement cache may be used, and names must never collide.
        args["statement_cache_size"] = 0
        args["prepared_statement_cache_size"] = 0
        args["prepared_statement_name_func"] = _unique_statement_name
        # PgBouncer rejects unknown startup parameters; the timeout is set per transaction instead.
        args["server_settings"].pop("statement_timeout", None)
    return args


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    """An asyncpg engine with the pool bounds and timeouts from settings."""
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=_connect_args(settings),
    )


def read_sessions(engine: AsyncEngine) -> ReadSessionFactory:
    """Sessions whose every transaction is `BEGIN READ ONLY`."""
    return async_sessionmaker(
        bind=engine.execution_options(postgresql_readonly=True),
        class_=AsyncReadSession,
        expire_on_commit=False,
        autoflush=False,
    )


class Database:
    """The primary's engine and the replicas' engines, built once for the app's life."""

    def __init__(self, primary: AsyncEngine, replicas: Sequence[AsyncEngine] = ()) -> None:
        self.primary = primary
        self.write_sessions: WriteSessionFactory = async_sessionmaker(
            bind=primary, class_=AsyncWriteSession, expire_on_commit=False, autoflush=False
        )
        self.primary_reads = ReadTarget("primary", primary, read_sessions(primary))
        self.replicas = tuple(
            ReadTarget(f"replica{index}", engine, read_sessions(engine)) for index, engine in enumerate(replicas)
        )
        self._next_replica = itertools.cycle(self.replicas) if self.replicas else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """Engines for the configured primary and replicas."""
        return cls(
            create_engine(str(settings.database_url), settings),
            [create_engine(str(url), settings) for url in settings.database_replica_urls],
        )

    def read_target(self) -> ReadTarget:
        """The server the next read goes to: the replicas in turn, or the primary when there is none."""
        if self._next_replica is None:
            return self.primary_reads
        return next(self._next_replica)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.primary.dispose()
        for replica in self.replicas:
            await replica.engine.dispose()
