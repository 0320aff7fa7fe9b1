"""Keyset paging over `(created_at, id)`, shared by the append-only logs (audit log, outbox, access log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, tuple_


def by_created_at(
    stmt: Select[Any],
    table: Table,
    *,
    descending: bool,
    limit: int,
    offset: int = 0,
    after: tuple[datetime, int] | None = None,
) -> Select[Any]:
    """`stmt` over `table` in `(created_at, id)` order, past the keyset position `after` when given, then cut."""
    c = table.c
    key = tuple_(c.created_at, c.id)
    if after is not None:
        stmt = stmt.where(key < tuple_(*after) if descending else key > tuple_(*after))
    order = (c.created_at.desc(), c.id.desc()) if descending else (c.created_at.asc(), c.id.asc())
    return stmt.order_by(*order).limit(limit).offset(offset)
