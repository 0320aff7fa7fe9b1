"""All SQL of the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Interval,
    Select,
    String,
    delete,
    func,
    literal,
    literal_column,
    select,
    update,
)

from backend.domain.outbox.models import OutboxEvent, OutboxStatus
from backend.domain.sessions import AnySession, AsyncWriteSession, NewRow, write_together
from backend.infrastructure.paging import by_created_at

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]

_ERROR_CHARS = 2000
# Inlined, not bound: the partial index ix_outbox_due (WHERE status = 'pending') serves only a query whose
# predicate matches it as written, and a generic plan for `status = $1` would not.
_PENDING: ColumnClause[str] = literal_column(f"'{OutboxStatus.pending.value}'", String)


async def add(
    session: AsyncWriteSession, topic: str, payload: dict[str, Any], *, due_at: datetime | None = None
) -> None:
    """Insert one pending event in the caller's transaction, due now or at `due_at`."""
    await write_together(session, event_row(topic, payload, due_at=due_at))


def event_row(topic: str, payload: dict[str, Any], *, due_at: datetime | None = None) -> NewRow:
    """One pending event, for `add` or for a caller that writes it together with its own rows (`write_together`)."""
    values: dict[str, Any] = {"topic": topic, "payload": payload}
    if due_at is not None:
        values["next_attempt_at"] = due_at
    return NewRow(outbox, values)


@dataclass(frozen=True)
class ClaimedEvent:
    """An event leased to one worker: `attempts` counts this attempt, and fences the outcome it records."""

    id: int
    topic: str
    # The event body as enqueued; its shape depends on the topic.
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


def _interval(seconds: float) -> ColumnElement[timedelta]:
    return literal(timedelta(seconds=seconds), Interval)


async def bury_abandoned(session: AsyncWriteSession, *, max_attempts: int) -> int:
    """Mark dead the events whose last allowed attempt was claimed and never reported back (lease expired)."""
    c = outbox.c
    abandoned = (
        select(c.id)
        .where(c.status == _PENDING, c.next_attempt_at <= func.now(), c.attempts >= max_attempts)
        .with_for_update(skip_locked=True)
        .cte("abandoned")
    )
    result = await session.execute(
        update(outbox)
        .where(c.id.in_(select(abandoned.c.id)))
        .values(
            status=OutboxStatus.dead.value,
            last_error=func.concat("attempt ", c.attempts, " never reported an outcome (the worker stopped)"),
        )
        .returning(c.id)
    )
    return len(result.all())


async def claim(
    session: AsyncWriteSession, *, batch_size: int, lease_seconds: float, max_attempts: int
) -> list[ClaimedEvent]:
    """Lease up to `batch_size` due events to the caller: one more attempt each, not due again until the lease ends.

    `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass over each other's rows instead of waiting; once the
    claiming transaction commits, the moved `next_attempt_at` keeps the rows out of every other claim.
    """
    c = outbox.c
    due = (
        select(c.id)
        .where(c.status == _PENDING, c.next_attempt_at <= func.now(), c.attempts < max_attempts)
        .order_by(c.next_attempt_at, c.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    result = await session.execute(
        update(outbox)
        .where(c.id.in_(select(due.c.id)))
        .values(attempts=c.attempts + 1, next_attempt_at=func.now() + _interval(lease_seconds))
        .returning(c.id, c.topic, c.payload, c.attempts, c.created_at)
    )
    events = [ClaimedEvent(**row) for row in result.mappings()]
    return sorted(events, key=lambda event: event.id)


async def mark_delivered(session: AsyncWriteSession, ids: Sequence[int]) -> None:
    """Record deliveries. Not fenced by attempt: an event that reached its target is delivered, whoever sent it."""
    if ids:
        await session.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.status == OutboxStatus.pending.value)
            .values(status=OutboxStatus.delivered.value, delivered_at=func.now())
        )


async def prune_delivered(session: AsyncWriteSession, *, delivered_before: datetime, limit: int) -> int:
    """Delete up to `limit` events delivered before `delivered_before`; pending and dead ones stay.

    Rows another transaction holds are skipped, not waited for. `created_at` bounds the scan too (an event is
    created before it is delivered), so the (status, created_at) index finds the candidates.
    """
    c = outbox.c
    old = (
        select(c.id)
        .where(
            c.status == OutboxStatus.delivered.value,
            c.created_at < delivered_before,
            c.delivered_at < delivered_before,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("old")
    )
    result = await session.execute(delete(outbox).where(c.id.in_(select(old.c.id))).returning(c.id))
    return len(result.all())


async def mark_failed(
    session: AsyncWriteSession, event: ClaimedEvent, error: str, *, retry_in_seconds: float | None
) -> None:
    """Record a failed attempt: due again after `retry_in_seconds`, or dead when that is None.

    Only while the row still carries this attempt's number: if the lease ran out and another worker claimed
    the event again, that worker's outcome is the one that counts.
    """
    c = outbox.c
    values: dict[str, Any] = {"last_error": error[:_ERROR_CHARS]}
    if retry_in_seconds is None:
        values["status"] = OutboxStatus.dead.value
    else:
        values["next_attempt_at"] = func.now() + _interval(retry_in_seconds)
    await session.execute(
        update(outbox)
        .where(c.id == event.id, c.status == OutboxStatus.pending.value, c.attempts == event.attempts)
        .values(**values)
    )


async def requeue(session: AsyncWriteSession, event_id: int) -> dict[str, Any]:
    """Put an event back in the queue, due now with a fresh count of attempts; the row as it now is."""
    c = outbox.c
    result = await session.execute(
        update(outbox)
        .where(c.id == event_id)
        .values(status=OutboxStatus.pending.value, attempts=0, next_attempt_at=func.now())
        .returning(outbox)
    )
    return dict(result.mappings().one())


async def get_for_update(session: AsyncWriteSession, event_id: int) -> OutboxEvent | None:
    """One event by id, locked until the transaction ends."""
    return await session.get(OutboxEvent, event_id, with_for_update=True, populate_existing=True)


async def count_by_status(session: AnySession) -> dict[str, int]:
    """How many events are in each status (statuses with none are absent)."""
    result = await session.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
    return {str(status): int(count) for status, count in result}


@dataclass(frozen=True)
class OutboxQuery:
    """A page of the admin's event list: filters, direction, offset or keyset position."""

    statuses: list[OutboxStatus] | None = None
    topics: list[str] | None = None
    ids: list[int] | None = None
    descending: bool = True
    limit: int = 25
    offset: int = 0
    after: tuple[datetime, int] | None = None


def _conditions(query: OutboxQuery) -> list[ColumnElement[bool]]:
    c = outbox.c
    where: list[ColumnElement[bool]] = []
    if query.statuses:
        where.append(c.status.in_([status.value for status in query.statuses]))
    if query.topics:
        where.append(c.topic.in_(query.topics))
    if query.ids:
        where.append(c.id.in_(query.ids))
    return where


def _select(query: OutboxQuery) -> Select[Any]:
    stmt = select(outbox).where(*_conditions(query))
    return by_created_at(
        stmt, outbox, descending=query.descending, limit=query.limit, offset=query.offset, after=query.after
    )


async def list_events(session: AnySession, query: OutboxQuery) -> list[dict[str, Any]]:
    """One page of events, newest first unless asked otherwise."""
    return [dict(row) for row in (await session.execute(_select(query))).mappings()]


async def count_events(session: AnySession, query: OutboxQuery) -> int:
    """The number of events matching the filters."""
    stmt = select(func.count()).select_from(outbox).where(*_conditions(query))
    return int((await session.execute(stmt)).scalar_one())
