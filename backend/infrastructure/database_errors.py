"""What a database error means: a server out of reach, a statement cancelled, a constraint violated. Read through
SQLAlchemy's wrappers down to the driver's error."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# A server that cannot be reached, refuses connections while starting or stopping, or drops a connection:
# the dependency failed, not the request. asyncpg raises some of these unwrapped at connect time.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    PoolTimeout,
    InterfaceError,
    OperationalError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InterfaceError,
    # A pooled connection whose server went away while it was idle can be caught between the server's last
    # error and the socket's close: the driver then refuses to use it ("another operation is in progress").
    asyncpg.exceptions.InternalClientError,
)


# SQLSTATE classes of a server out of reach: connection exceptions, and shutdown / "cannot connect now".
_UNAVAILABLE_SQLSTATES = ("08", "57P")
_QUERY_CANCELED = "57014"  # statement_timeout, or a cancel request


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: the driver's error may sit under SQLAlchemy's wrapper and its adapter."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return
        yield seen
        seen = getattr(seen, "orig", None) or seen.__cause__


def _sqlstate(error: BaseException) -> object:
    return getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means a database server is out of reach (as opposed to a bad statement)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    for seen in _causes(exc):
        sqlstate = _sqlstate(seen)
        if sqlstate == _QUERY_CANCELED:
            # A statement that ran too long (asyncpg files it under operator intervention, like a shutdown):
            # the server answered, so it stays in rotation and its pool's connections stay valid.
            return False
        if isinstance(seen, UNAVAILABLE_ERRORS):
            return True
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
    return False


def is_timed_out(exc: BaseException) -> bool:
    """Whether `exc` is a statement PostgreSQL cancelled (DATABASE_STATEMENT_TIMEOUT_MS, or a cancel request)."""
    return any(_sqlstate(seen) == _QUERY_CANCELED for seen in _causes(exc))


def violated_constraint(exc: BaseException) -> str | None:
    """The name of the constraint or unique index whose violation `exc` reports, as PostgreSQL names it."""
    for seen in _causes(exc):
        if isinstance(seen, asyncpg.PostgresError):
            return getattr(seen, "constraint_name", None)
    return None
