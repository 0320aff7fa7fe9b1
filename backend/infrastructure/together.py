"""Several writes in one statement: new rows (`NewRow`) as data-modifying CTEs of the last INSERT or of an UPDATE,
built once per shape and run with the values (`write_together`), or written only where a query finds its row
(`write_where`); in a session's transaction, or alone (`OneStatement`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CTE, Insert, Select, Table, Update, bindparam, insert, select
from sqlalchemy.engine import Dialect

from backend.infrastructure.database import AsyncWriteSession
from backend.infrastructure.driver import OneStatement, Row, fetch_in_transaction

WriteTarget = AsyncWriteSession | OneStatement
"""Where `write_together` and `write_where` run their statement: in a session's transaction, or alone
(`OneStatement`)."""


@dataclass(frozen=True, slots=True)
class NewRow:
    """One row to insert, for `write_together` or `write_where`: its table and the values of its columns (the others
    take their defaults)."""

    table: Table
    values: Mapping[str, Any]


Statement = Insert | Update | Select[Any]

_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled once for the driver: its SQL with `$n` parameters and, for each `$n`, the name of its bind
    parameter, the value it has when none is given (a literal of the statement, as the 1 of `version + 1`), and the
    function that makes a value what the driver takes (a JSONB value's serialization), if any."""

    sql: str
    binds: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, fixed, process in self.binds:
            value = params[name] if fixed is _REQUIRED else params.get(name, fixed)
            values.append(value if process is None else process(value))
        return values


def _compiled(statement: Statement, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    by_name = {compiled.bind_names[bind]: bind for bind in compiled.binds.values()}
    binds = []
    for name in compiled.positiontup or ():
        bind = by_name[name]
        fixed = _REQUIRED if bind.required else bind.effective_value
        binds.append((name, fixed, bind.type.dialect_impl(dialect).bind_processor(dialect)))
    return _Compiled(str(compiled), tuple(binds))


_TOGETHER: dict[tuple[Any, ...], _Compiled] = {}
"""The statements of `write_together` and `write_where` by shape, compiled: a few, each named by the code that runs it
(tables, columns, `then`, the guard)."""


async def _run(
    target: WriteTarget,
    shape: tuple[Any, ...],
    build: Callable[[], Statement],
    rows: Sequence[NewRow],
    params: Mapping[str, Any] | None,
) -> list[Row]:
    """The statement of this shape (built and compiled the first time it is asked for) run with the rows' values and
    `params`."""
    compiled = _TOGETHER.get(shape)
    if compiled is None:
        assert target.bind is not None
        compiled = _TOGETHER.setdefault(shape, _compiled(build(), target.bind.dialect))
    arguments = compiled.arguments({**_values(rows), **(params or {})})
    if isinstance(target, OneStatement):
        return await target.fetch(compiled.sql, arguments)
    return await fetch_in_transaction(target, compiled.sql, arguments)


def _shape(rows: Sequence[NewRow]) -> tuple[tuple[Table, tuple[str, ...]], ...]:
    return tuple((row.table, tuple(row.values)) for row in rows)


def _values(rows: Sequence[NewRow]) -> dict[str, Any]:
    """The bind parameters of the rows' values: `w{n}_{column}`."""
    return {f"w{n}_{key}": value for n, row in enumerate(rows) for key, value in row.values.items()}


def _bound(row: NewRow, n: int, key: str) -> Any:
    return bindparam(f"w{n}_{key}", type_=row.table.c[key].type)


def _together(rows: Sequence[NewRow], then: Update | Select[Any] | None, returning: bool) -> Statement:
    """The statement of `write_together` for rows of this shape, with a bind parameter `w{n}_{column}` per value."""
    inserts = [insert(row.table).values({key: _bound(row, n, key) for key in row.values}) for n, row in enumerate(rows)]
    if then is None:
        *inserts, last = inserts
        statement: Statement = last.returning(*last.table.c) if returning else last
    else:
        statement = then
    for n, each in enumerate(inserts):
        statement = statement.add_cte(each.cte(f"write_{n}"))
    return statement


async def write_together(
    session: WriteTarget,
    *rows: NewRow,
    then: Update | Select[Any] | None = None,
    params: Mapping[str, Any] | None = None,
    returning: bool = False,
) -> list[Row]:
    """Insert rows, and run `then` (an UPDATE, or a SELECT from an UPDATE's RETURNING, whose bind parameters `params`
    gives; their names must not be columns of its table), as one statement: the INSERTs as data-modifying CTEs of the
    last statement (the last INSERT, or `then`), which PostgreSQL runs once each, in the statement's snapshot. No row
    may need another's RETURNING; their triggers, foreign key checks included, run at the statement's end, so a member
    and its profile may go together. One round trip instead of one each. With `returning`, the last row comes back as
    stored.

    The statement is built and compiled once per shape and kept, and runs below SQLAlchemy's execution
    (`fetch_in_transaction`): a hot path (every decision) pays neither SQLAlchemy's construction of three INSERTs and an
    UPDATE, nor their cache key, nor its execution of them, only the values."""
    return await _run(session, (then, returning, _shape(rows)), lambda: _together(rows, then, returning), rows, params)


def _where(guard: Select[Any], rows: Sequence[NewRow]) -> Select[Any]:
    """The statement of `write_where`: the first row an INSERT ... SELECT from the guard, each other one from the
    first's RETURNING, so that each is written only when the first was; the first comes back."""
    first_row, *other_rows = rows
    first = _insert_from(first_row, 0, guard.cte("guard"), returning=True)
    statement = select(*first.c)
    for n, row in enumerate(other_rows, start=1):
        statement = statement.add_cte(_insert_from(row, n, first))
    return statement


def _insert_from(row: NewRow, n: int, source: CTE, *, returning: bool = False) -> CTE:
    """INSERT ... SELECT of the row's values, once per row of `source`, as a CTE."""
    # asyncpg's dialect casts each parameter to its column's type ($1::UUID), as an INSERT ... SELECT needs.
    values = select(*(_bound(row, n, key).label(key) for key in row.values)).select_from(source)
    write = insert(row.table).from_select(list(row.values), values)
    return (write.returning(*row.table.c) if returning else write).cte(f"write_{n}")


async def write_where(
    session: WriteTarget, guard: Select[Any], *rows: NewRow, params: Mapping[str, Any] | None = None
) -> list[Row]:
    """Insert rows only where `guard` (a query whose bind parameters `params` gives) finds its row (one at most), as
        one statement: the first row once if it finds one (a lock it takes, FOR SHARE say, held to the transaction's
        end), the others once with it. The first row comes back as stored, or nothing when the guard found nothing and
        nothing was written. One round trip for a check and its writes; built once per shape, as `write_together`'s.
    On a `OneStatement` the lock ends with the statement, which is all the write needs."""
    return await _run(session, ("where", guard, _shape(rows)), lambda: _where(guard, rows), rows, params)
