"""Statements run by the driver on a session's connection, below SQLAlchemy's statement execution: the hot reads in
autocommit (`fetch`), statements in the session's transaction (`fetch_in_transaction`) or between a connection's
transactions (`fetch_outside_transaction`), a write that is one statement alone (`OneStatement`), and COPY
(`copy_query`). One rule for all of them drops a connection a failed statement may have left unusable
(`_drop_if_broken`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from backend.infrastructure.database_errors import is_unavailable
from backend.infrastructure.observability import note_statement


async def copy_query(
    session: AsyncSession, sql: str, *args: Any, output: Callable[[bytes], Awaitable[None]], **options: Any
) -> None:
    """`COPY (sql) TO STDOUT` run by the driver on the session's connection (SQLAlchemy has no construct for COPY),
    each chunk handed to `output`; asyncpg quotes `args` into the statement (COPY takes no bind parameters).

    When `output` fails (or the task is cancelled), asyncpg sends the server a cancel request and waits, at the
    connection's next use, for its acknowledgement, which never comes if the copy had ended already (a failure
    on the last chunk): such a connection is closed and dropped from the pool, so that nothing waits on it.
    """
    connection, raw = await _connection_of(session)
    driver: asyncpg.Connection | None = raw.driver_connection
    assert driver is not None

    async def write(data: bytes | bytearray) -> None:
        await output(bytes(data))

    try:
        await driver.copy_from_query(sql, *args, output=write, **options)
    except BaseException as exc:
        answered = isinstance(exc, asyncpg.PostgresError)
        if not answered:
            driver.terminate()  # closed at once: a graceful close would wait for the cancel's acknowledgement
        await _drop_if_broken(connection, raw, exc, answered=answered)
        raise


class Row(Protocol):
    """A result row by column name: an asyncpg Record or a SQLAlchemy RowMapping (`dict(row)` works on both)."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


async def fetch(session: AsyncSession, sql: str, *args: Any) -> Sequence[Row]:
    """The rows of one statement with asyncpg's `$n` parameters, as mappings of column name to value.

    On an autocommit read session the driver runs it directly (the hot path, no SQLAlchemy statement to
    build or result to wrap); the statement is counted in the request's Server-Timing like the others, and
    a connection found dead is dropped from the pool. Anywhere else (a write transaction, reads behind
    PgBouncer) it runs in the session's transaction (`fetch_in_transaction`).
    """
    connection, raw = await _connection_of(session)
    if raw.dbapi_connection is None or not raw.dbapi_connection.autocommit:
        return await _in_transaction(connection, raw, sql, args)
    return await _outside(connection, raw, sql, args)


async def fetch_outside_transaction(connection: AsyncConnection, sql: str, *args: Any) -> Sequence[Row]:
    """The rows of one statement run by the driver on `connection` between its transactions (so in autocommit: no
    BEGIN), as `fetch` runs a read: counted in the request's Server-Timing, the connection dropped if found dead."""
    return await _outside(connection, await connection.get_raw_connection(), sql, args)


async def _outside(connection: AsyncConnection, raw: Any, sql: str, args: Sequence[Any]) -> list[Row]:
    driver: asyncpg.Connection | None = raw.driver_connection
    assert driver is not None
    started = time.perf_counter()
    try:
        rows: list[Row] = await driver.fetch(sql, *args)  # type: ignore[assignment]  # Record has no stub mapping
        return rows
    except BaseException as exc:
        await _drop_if_broken(connection, raw, exc, answered=isinstance(exc, asyncpg.PostgresError))
        raise
    finally:
        note_statement(time.perf_counter() - started)


async def fetch_in_transaction(session: AsyncSession, sql: str, args: Sequence[Any]) -> list[Row]:
    """The rows of one statement (asyncpg's `$n` parameters, values as the driver takes them), run in the session's
    transaction by SQLAlchemy's asyncpg adapter, below SQLAlchemy's statement execution: no execution context,
    cursor wrapper or result object, a third of a write's CPU in SQLAlchemy (docs/decisions.md, "Writes below
    SQLAlchemy's execution"). The adapter begins the transaction if nothing has run in it yet, and prepares the
    statement once per connection.

    An error is raised as SQLAlchemy would raise it (an IntegrityError, say, wrapping the driver's), and a connection
    that the error may have left unusable is dropped from the pool, as `fetch` does. Counted in the request's
    Server-Timing.
    """
    connection, raw = await _connection_of(session)
    return await _in_transaction(connection, raw, sql, args)


_CONNECTION = "memberdesk_connection"


async def _connection_of(session: AsyncSession) -> tuple[AsyncConnection, Any]:
    """The session's connection and its pooled DBAPI connection, with the session's transaction begun on it: what
    runs on it is in that transaction, and the session's commit or rollback ends it. Kept in the session's info for
    that transaction only (the next one begins anew), so that a write's statements ask SQLAlchemy for it once."""
    transaction = session.sync_session.get_transaction()
    kept = session.info.get(_CONNECTION)
    if kept is not None and transaction is not None and kept[0] is transaction:
        return kept[1], kept[2]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    session.info[_CONNECTION] = (session.sync_session.get_transaction(), connection, raw)
    return connection, raw


async def _in_transaction(connection: AsyncConnection, raw: Any, sql: str, args: Sequence[Any]) -> list[Row]:
    """`fetch_in_transaction` on the connection at hand."""
    cursor = raw.dbapi_connection.cursor()
    started = time.perf_counter()
    try:
        await cursor._prepare_and_execute(sql, args)  # the adapter's execute, without its await_
        rows: list[Row] = cursor.fetchall()
        return rows
    except BaseException as exc:
        from_driver = isinstance(exc, connection.dialect.loaded_dbapi.Error)
        dropped = await _drop_if_broken(connection, raw, exc, answered=from_driver)
        if not from_driver:
            raise  # a cancellation, say: as SQLAlchemy lets it through
        raise _as_sqlalchemy_raises(connection, exc, sql, args, invalidated=dropped) from exc
    finally:
        note_statement(time.perf_counter() - started)


class OneStatement:
    """A write that is one statement, run alone on a primary connection held for the request: PostgreSQL makes it a
    transaction of its own, committed when it returns, so it takes one round trip where a session's transaction
    takes three (`BEGIN`, the statement, `COMMIT`), and no ORM session is made for it (docs/decisions.md, "A write
    of one statement, alone"). Atomic because it is one statement: a second one would not be atomic with the
    first, so it is refused (RuntimeError), not run.

    Only on a connection where a statement may run outside a transaction (not behind PgBouncer, where the parse
    and the execution of a statement outside a transaction may reach different server connections). It runs as
    `fetch` runs a read (counted in the request's Server-Timing, the connection dropped if it may be broken), and
    fails as `fetch_in_transaction` does (an IntegrityError with the constraint's name, say)."""

    def __init__(self, connection: AsyncConnection, raw: Any) -> None:
        self.bind = connection
        self._raw = raw
        self._ran = False

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        """The rows of the write's statement (asyncpg's `$n` parameters), committed when this returns."""
        if self._ran:
            raise RuntimeError("a write of one statement ran a second one, which would not be atomic with the first")
        self._ran = True
        try:
            return await _outside(self.bind, self._raw, sql, args)
        except Exception as exc:
            error = _as_sqlalchemy_raises(
                self.bind, _as_adapter_raises(self._raw, exc), sql, args, invalidated=self.bind.invalidated
            )
            if error is exc:
                raise
            raise error from exc

    async def read_after(self, sql: str, *args: Any) -> list[Row]:
        """A read on the write's connection once its statement has run, outside any transaction (the commit's
        position): not a second write, so not refused."""
        return await _outside(self.bind, self._raw, sql, args)


def _as_adapter_raises(raw: Any, exc: Exception) -> Exception:
    """A driver's error as SQLAlchemy's asyncpg adapter raises it (in its DBAPI error classes); anything else as it
    is."""
    try:
        raw.dbapi_connection._handle_exception(exc)  # raises the translation, or the error itself
    except Exception as translated:
        return translated
    return exc  # pragma: no cover  # _handle_exception always raises


def _as_sqlalchemy_raises(
    connection: AsyncConnection, exc: BaseException, sql: str, args: Sequence[Any], *, invalidated: bool
) -> BaseException:
    """An adapter's error as SQLAlchemy's execution raises it (an IntegrityError wrapping it, say); anything else as
    it is."""
    dialect = connection.dialect
    if not isinstance(exc, dialect.loaded_dbapi.Error):
        return exc
    return DBAPIError.instance(
        sql,
        list(args),
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=connection.sync_engine.hide_parameters,
        connection_invalidated=invalidated,
        dialect=dialect,
    )


async def _drop_if_broken(connection: AsyncConnection, raw: Any, exc: BaseException, *, answered: bool) -> bool:
    """After a statement failed: whether its connection was dropped from the pool. An error the server answered
    leaves the connection usable; anything else (the server gone, the request cancelled mid-protocol) may not, so
    the pool must not hand it out again. With the server gone, as SQLAlchemy does on a disconnect, every connection
    opened before now is replaced at its next checkout (they are dead too), without a round trip each."""
    unavailable = is_unavailable(exc)
    if unavailable:
        connection.sync_engine.pool._invalidate(raw, exc if isinstance(exc, Exception) else None, _checkin=False)
    if unavailable or not answered:
        await connection.invalidate()
        return True
    return False
