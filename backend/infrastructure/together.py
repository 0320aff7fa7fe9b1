"""Several writes in one statement: new rows (`NewRow`) as data-modifying CTEs of the last INSERT or of an UPDATE,
built once per shape and run with the values (`write_together`), or written only where a query finds its row
(`write_where`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CTE, Insert, Result, Select, Table, Update, bindparam, insert, select

from backend.infrastructure.database import AsyncWriteSession


@dataclass(frozen=True, slots=True)
class NewRow:
    """One row to insert, for `write_together` or `write_where`: its table and the values of its columns (the others
    take their defaults)."""

    table: Table
    values: Mapping[str, Any]


Statement = Insert | Update | Select[Any]

_TOGETHER: dict[tuple[Any, ...], Statement] = {}
"""The statements of `write_together` and `write_where` by shape: a few, each named by the code that runs it
(tables, columns, `then`, the guard)."""


def _built(shape: tuple[Any, ...], build: Callable[[], Statement]) -> Statement:
    """The statement of this shape, built the first time it is asked for."""
    statement = _TOGETHER.get(shape)
    return statement if statement is not None else _TOGETHER.setdefault(shape, build())


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
    session: AsyncWriteSession,
    *rows: NewRow,
    then: Update | Select[Any] | None = None,
    params: Mapping[str, Any] | None = None,
    returning: bool = False,
) -> Result[Any]:
    """Insert rows, and run `then` (an UPDATE, or a SELECT from an UPDATE's RETURNING, whose bind parameters `params`
    gives; their names must not be columns of its table), as one statement: the INSERTs as data-modifying CTEs of the
    last statement (the last INSERT, or `then`), which PostgreSQL runs once each, in the statement's snapshot. No row
    may need another's RETURNING; their triggers, foreign key checks included, run at the statement's end, so a member
    and its profile may go together. One round trip instead of one each. With `returning`, the last row comes back as
    stored.

    The statement is built once per shape and kept: a hot path (every decision) pays neither SQLAlchemy's
    construction of three INSERTs and an UPDATE nor their cache key (half a millisecond of CPU), only the values."""
    statement = _built((then, returning, _shape(rows)), lambda: _together(rows, then, returning))
    return await session.execute(statement, {**_values(rows), **(params or {})})


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
    session: AsyncWriteSession, guard: Select[Any], *rows: NewRow, params: Mapping[str, Any] | None = None
) -> Result[Any]:
    """Insert rows only where `guard` (a query whose bind parameters `params` gives) finds its row (one at most), as
    one statement: the first row once if it finds one (a lock it takes, FOR SHARE say, held to the transaction's
    end), the others once with it. The first row comes back as stored, or nothing when the guard found nothing and
    nothing was written. One round trip for a check and its writes; built once per shape, as `write_together`'s."""
    statement = _built(("where", guard, _shape(rows)), lambda: _where(guard, rows))
    return await session.execute(statement, {**_values(rows), **(params or {})})
