"""All SQL of the queues: photos and documents across members, with their member, in keyset order.

Written by hand, as the member list is (docs/decisions.md: "Hand-written SQL for the hottest reads"). Closed-set
filter values (statuses, genders, document types) are written into the SQL as literals, so each combination is a
statement PostgreSQL plans once; ids and cursor positions are parameters.

The order is (created_at, id), oldest first by default, served by the index on (status, created_at, id): a queue of
one status walks that index from the cursor on; a queue of several statuses (or of all) reads each status's walk
up to the page's end and merges them (one ordered branch per status under a MergeAppend), so a page deep in
millions of rows costs what the first does.

Exact totals come from queue_counts (migration 0012) when only the status, member status, gender and deletion
filters are given: a sum over a few hundred rows. A member, an id or a document type filter counts the rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from backend.domain.member.models import DocumentStatus, PhotoStatus
from backend.domain.queue.schemas import DocumentQueueFilters, QueueFilters
from backend.domain.sessions import AnySession, Row, fetch


@dataclass(frozen=True)
class Queue:
    """One queue's table and what it selects."""

    entity: str  # queue_counts.entity
    table: str
    statuses: tuple[StrEnum, ...]
    columns: tuple[str, ...]  # the item's own columns, besides id, member_id, status and the member's


PHOTOS = Queue(
    entity="photo",
    table="user_photos",
    statuses=tuple(PhotoStatus),
    columns=(
        "s3_key", "content_type", "display_order", "reason_code", "status_reason", "size_bytes", "created_at",
        "deleted_at", "claimed_by", "claimed_until",
    ),
)  # fmt: skip
DOCUMENTS = Queue(
    entity="document",
    table="user_documents",
    statuses=tuple(DocumentStatus),
    columns=(
        "doc_type", "s3_key", "content_type", "reason_code", "status_reason", "size_bytes", "created_at",
        "deleted_at", "claimed_by", "claimed_until",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class QueueQuery:
    """A resolved queue request: filters, direction, page, and the position after which it starts."""

    filters: QueueFilters
    descending: bool
    limit: int
    offset: int = 0
    after: tuple[datetime, uuid.UUID] | None = None


class _Params:
    """The positional parameters ($1, $2, ...) of one statement, collected while its SQL is written."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def _literals(values: Sequence[StrEnum]) -> str:
    texts = sorted({str(value.value) for value in values})
    if not all(text.isidentifier() for text in texts):  # enum values are plain words
        raise ValueError(f"not plain enum values: {texts!r}")
    return ", ".join(f"'{text}'" for text in texts)


def _in(column: str, values: Sequence[StrEnum]) -> str:
    return f"{column} IN ({_literals(values)})"


def _statuses(queue: Queue, filters: QueueFilters) -> list[StrEnum]:
    chosen: Sequence[StrEnum] | None = getattr(filters, "status", None)
    return sorted(set(chosen), key=queue.statuses.index) if chosen else list(queue.statuses)


def _doc_types(filters: QueueFilters) -> Sequence[StrEnum] | None:
    return filters.doc_type if isinstance(filters, DocumentQueueFilters) else None


def _where(filters: QueueFilters, p: _Params) -> list[str]:
    """The conditions on `i` (the item) and `u` (its member) besides the status."""
    where = []
    if not filters.include_deleted:
        where += ["i.deleted_at IS NULL", "u.deleted_at IS NULL"]
    if filters.member_status:
        where.append(_in("u.status", filters.member_status))
    if filters.gender:
        where.append(_in("u.gender", filters.gender))
    if filters.member_id is not None:
        where.append(f"i.user_id = ANY({p(filters.member_id)}::uuid[])")
    if filters.id is not None:
        where.append(f"i.id = ANY({p(filters.id)}::uuid[])")
    doc_types = _doc_types(filters)
    if doc_types:
        where.append(_in("i.doc_type", doc_types))
    return where


def _counters_answer(filters: QueueFilters) -> bool:
    return filters.member_id is None and filters.id is None and not _doc_types(filters)


def _total(queue: Queue, filters: QueueFilters, p: _Params) -> str:
    """An SQL expression for the exact number of items matching the filters."""
    statuses = _statuses(queue, filters)
    if _counters_answer(filters):
        where = [f"c.entity = '{queue.entity}'", _in("c.status", statuses)]
        if not filters.include_deleted:
            where.append("NOT c.deleted")
        if filters.member_status:
            where.append(_in("c.member_status", filters.member_status))
        if filters.gender:
            where.append(_in("c.gender", filters.gender))
        return f"(SELECT coalesce(sum(c.n), 0) FROM queue_counts c WHERE {' AND '.join(where)})"
    where = [_in("i.status", statuses), *_where(filters, p)]
    return f"(SELECT count(*) FROM {queue.table} i JOIN users u ON u.id = i.user_id WHERE {' AND '.join(where)})"


def _select(queue: Queue, extra: str) -> str:
    own = ", ".join(f"i.{column}" for column in queue.columns)
    return (
        f"SELECT i.id, i.user_id AS member_id, i.status, {own},"
        f" u.name AS member_name, u.status AS member_status{extra}"
        f" FROM {queue.table} i JOIN users u ON u.id = i.user_id"
    )


def _position(p: _Params, stamp: datetime, row_id: uuid.UUID) -> str:
    """A cursor's position, `(created_at, id)`, as values the planner cannot see (each an InitPlan's).

    Every position gets the same plan (the status index walked from the position, LIMIT the page), but with the
    values in sight PostgreSQL estimates the rows after the position, finds its custom plan cheaper than the generic
    one (541 against 579 for a page 40,000 rows into the pending queue at 1M members) and plans every deep page anew,
    0.25 ms each. Out of sight, both plans cost the same and the prepared statement keeps its generic one after its
    fifth run.
    """
    return f"((SELECT {p(stamp)}::timestamptz), (SELECT {p(row_id)}::uuid))"


def _page_sql(queue: Queue, query: QueueQuery, p: _Params, *, with_total: bool) -> str:
    """The page's statement; with `with_total` each row carries the exact total (an uncorrelated subquery: run
    once, in the page's snapshot)."""
    filters = query.filters
    direction = "DESC" if query.descending else "ASC"
    common = _where(filters, p)
    if query.after is not None:
        stamp, row_id = query.after
        common.append(f"(i.created_at, i.id) {'<' if query.descending else '>'} {_position(p, stamp, row_id)}")
    total = f", {_total(queue, filters, p)} AS total" if with_total else ""
    page = f"LIMIT {int(query.limit)} OFFSET {int(query.offset)}"
    statuses = _statuses(queue, filters)
    if len(statuses) == 1:
        where = " AND ".join([_in("i.status", statuses), *common])
        return f"{_select(queue, total)} WHERE {where} ORDER BY i.created_at {direction}, i.id {direction} {page}"
    # One ordered walk per status, each cut at the page's end, merged.
    reach = int(query.limit) + int(query.offset)
    branches = [
        f"({_select(queue, '')} WHERE {' AND '.join([_in('i.status', [status]), *common])}"
        f" ORDER BY i.created_at {direction}, i.id {direction} LIMIT {reach})"
        for status in statuses
    ]
    return (
        f"SELECT q.*{total} FROM ({' UNION ALL '.join(branches)}) q"
        f" ORDER BY q.created_at {direction}, q.id {direction} {page}"
    )


def page_statement(queue: Queue, query: QueueQuery, *, with_total: bool) -> tuple[str, list[Any]]:
    """The page's SQL and its parameters (for EXPLAIN)."""
    p = _Params()
    return _page_sql(queue, query, p, with_total=with_total), p.args


async def list_items(
    session: AnySession, queue: Queue, query: QueueQuery, *, with_total: bool
) -> tuple[Sequence[Row], int | None]:
    """One page of items with their member's name and status, and with `with_total` the exact number of matching
    items, from the same statement and snapshot."""
    sql, args = page_statement(queue, query, with_total=with_total)
    rows = await fetch(session, sql, *args)
    if not with_total:
        return rows, None
    if rows:
        return rows, int(rows[0]["total"])
    # A page with no rows carries no total: asked alone.
    p = _Params()
    counted = await fetch(session, f"SELECT {_total(queue, query.filters, p)} AS n", *p.args)
    return rows, int(counted[0]["n"])
