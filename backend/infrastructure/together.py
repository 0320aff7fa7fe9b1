"""Several writes in one statement: new rows (`NewRow`) as data-modifying CTEs of the last INSERT or of an UPDATE,
built once per shape and run with the values (`write_together`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Result, Table, Update, bindparam, insert

from backend.infrastructure.database import AsyncWriteSession


@dataclass(frozen=True, slots=True)
class NewRow:
    """One row to insert, for `write_together`: its table and the values of its columns (the others take their
    defaults)."""

    table: Table
    values: Mapping[str, Any]


_TOGETHER: dict[tuple[Any, ...], Insert | Update] = {}
"""`write_together`'s statements by shape: a few, each named by the code that runs it (tables, columns, `then`)."""


def _together(rows: Sequence[NewRow], then: Update | None, returning: bool) -> Insert | Update:
    """The statement of `write_together` for rows of this shape, with a bind parameter `w{n}_{column}` per value."""
    inserts = [
        insert(row.table).values({key: bindparam(f"w{n}_{key}", type_=row.table.c[key].type) for key in row.values})
        for n, row in enumerate(rows)
    ]
    if then is None:
        *inserts, last = inserts
        statement: Insert | Update = last.returning(*last.table.c) if returning else last
    else:
        statement = then
    for n, each in enumerate(inserts):
        statement = statement.add_cte(each.cte(f"write_{n}"))
    return statement


async def write_together(
    session: AsyncWriteSession,
    *rows: NewRow,
    then: Update | None = None,
    params: Mapping[str, Any] | None = None,
    returning: bool = False,
) -> Result[Any]:
    """Insert rows, and run `then` (an UPDATE whose bind parameters `params` gives; their names must not be columns
    of its table), as one statement: the INSERTs as data-modifying CTEs of the last statement (the last INSERT, or
    `then`), which PostgreSQL runs once each, in the statement's snapshot. No row may need another's RETURNING; their
    triggers, foreign key checks included, run at the statement's end, so a member and its profile may go together.
    One round trip instead of one each. With `returning`, the last row comes back as stored.

    The statement is built once per shape and kept: a hot path (every decision) pays neither SQLAlchemy's
    construction of three INSERTs and an UPDATE nor their cache key (half a millisecond of CPU), only the values."""
    shape = (then, returning, tuple((row.table, tuple(row.values)) for row in rows))
    statement = _TOGETHER.get(shape)
    if statement is None:
        statement = _TOGETHER.setdefault(shape, _together(rows, then, returning))
    values = {f"w{n}_{key}": value for n, row in enumerate(rows) for key, value in row.values.items()}
    return await session.execute(statement, {**values, **(params or {})})
