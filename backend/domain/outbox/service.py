"""Recording side effects: written in the change's transaction, delivered by the worker after commit.

An event is one side effect, and its payload says which kind (the worker reads nothing else):

- `{"action": "delete_object", "s3_key": "<key>", ...}` deletes that object from the app's bucket
  (`enqueue_object_deletion` builds it; `photo.deleted` events use it), now or, scheduled through the event's
  `next_attempt_at`, later (an upload key is deleted again once its form has expired);
- any other payload is a notification, POSTed as a signed webhook (member.approved, photo.rejected, ...).

The worker that delivers them runs in backend.runtime.outbox; what an event means (`delivery_of`), when a failed
one is tried again (`backoff_seconds`) and when it is dead (`Outcome.is_dead`) are decided here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.identity import AuditContext
from backend.domain.ordering import created_id_position
from backend.domain.outbox import repository
from backend.domain.outbox.models import OutboxStatus
from backend.domain.outbox.repository import ClaimedEvent, OutboxQuery
from backend.domain.outbox.schemas import OutboxEventRead, OutboxFilters
from backend.domain.sessions import AnySession, AsyncReadSession, AsyncWriteSession, NewRow

# Set on a session that enqueued events, so the request can nudge the worker right after its commit.
OUTBOX_PENDING = "outbox_pending"

ACTION = "action"
DELETE_OBJECT = "delete_object"
S3_KEY = "s3_key"

BACKOFF_CAP_SECONDS = 3600.0
JITTER = 0.25


async def enqueue(
    session: AsyncWriteSession, topic: str, payload: dict[str, Any], *, due_at: datetime | None = None
) -> None:
    """An event to deliver once (and only if) this transaction commits: at once, or not before `due_at`."""
    await repository.add(session, topic, payload, due_at=due_at)
    if due_at is None:
        session.info[OUTBOX_PENDING] = True


def event(session: AsyncWriteSession, topic: str, payload: dict[str, Any]) -> NewRow:
    """`enqueue`'s row for an event due now, for a caller that writes it in this session's transaction together
    with its own rows (`write_together`)."""
    session.info[OUTBOX_PENDING] = True
    return repository.event_row(topic, payload)


async def enqueue_object_deletion(
    session: AsyncWriteSession,
    s3_key: str,
    *,
    topic: str = "photo.deleted",
    due_at: datetime | None = None,
    **context: Any,
) -> None:
    """Delete `s3_key` from the bucket once (and only if) this transaction commits, at once or not before `due_at`
    (the worker's sweep finds it then); `context` is kept for operators."""
    await enqueue(session, topic, {**context, ACTION: DELETE_OBJECT, S3_KEY: s3_key}, due_at=due_at)


async def backlog(session: AnySession) -> dict[str, int]:
    """How many events are pending, delivered and dead (every status present, for metrics)."""
    counts = await repository.count_by_status(session)
    return {status.value: counts.get(status.value, 0) for status in OutboxStatus}


def build_query(
    filters: OutboxFilters, *, descending: bool, limit: int, offset: int, after: list[Any] | None
) -> OutboxQuery:
    """The repository query for the API's filters, page and keyset cursor values."""
    return OutboxQuery(
        statuses=filters.status,
        topics=filters.topic,
        ids=filters.id,
        descending=descending,
        limit=limit,
        offset=offset,
        after=created_id_position(after),
    )


async def list_events(
    session: AsyncReadSession, query: OutboxQuery, *, count: bool
) -> tuple[list[OutboxEventRead], int | None, list[Any]]:
    """A page of events, the total when asked, and the cursor values of the last row of a full page."""
    rows = await repository.list_events(session, query)
    total = await repository.count_events(session, query) if count else None
    next_after: list[Any] = []
    if rows and len(rows) == query.limit:
        next_after = [rows[-1]["created_at"].isoformat(), rows[-1]["id"]]
    return [OutboxEventRead.model_validate(row) for row in rows], total, next_after


async def retry(session: AsyncWriteSession, context: AuditContext, event_id: int) -> OutboxEventRead:
    """Put a dead event back in the queue with a fresh count of attempts; 404 if unknown, 409 unless dead."""
    before = await repository.get_for_update(session, event_id)
    if before is None:
        raise NotFoundError(f"No outbox event with id {event_id}.")
    if before.status != OutboxStatus.dead:
        raise ConflictError(f"Only a dead event can be retried; event {event_id} is {before.status}.")
    state = {"status": before.status, "attempts": before.attempts}
    row = await repository.requeue(session, event_id)
    after = {"status": row["status"], "attempts": row["attempts"]}
    await AuditTrail(session, context).record("outbox.retried", "outbox_event", event_id, changes(state, after))
    session.info[OUTBOX_PENDING] = True
    return OutboxEventRead.model_validate(row)


# Delivery: what the worker (runtime.outbox) asks of the outbox ---------------------------------------------------


class PermanentFailure(Exception):
    """An event that no number of retries can deliver (a malformed payload): it goes dead at once."""


@dataclass(frozen=True)
class ObjectDeletion:
    """Delete `key` from the app's bucket (S3 DeleteObject, which is idempotent)."""

    key: str


@dataclass(frozen=True)
class Notification:
    """POST `body` as a signed webhook; receivers dedupe on `delivery_id`, the same on every attempt."""

    topic: str
    delivery_id: str
    body: bytes


def delivery_of(event: ClaimedEvent) -> ObjectDeletion | Notification:
    """What delivering `event` means, read from its payload; PermanentFailure when it can never be delivered."""
    if event.payload.get(ACTION) == DELETE_OBJECT:
        key = event.payload.get(S3_KEY)
        if not isinstance(key, str) or not key:
            raise PermanentFailure(f"a {DELETE_OBJECT} event needs a non-empty string {S3_KEY}")
        return ObjectDeletion(key)
    body = orjson.dumps({"id": event.id, "topic": event.topic, "created_at": event.created_at, "data": event.payload})
    return Notification(event.topic, str(event.id), body)


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: delivered when `error` is None."""

    event: ClaimedEvent
    error: str | None = None
    permanent: bool = False

    def is_dead(self, max_attempts: int) -> bool:
        """Whether this failure ends the event: it can never succeed, or it was the last allowed attempt."""
        return self.error is not None and (self.permanent or self.event.attempts >= max_attempts)


def backoff_seconds(base: float, attempts: int) -> float:
    """The wait after the `attempts`-th failed attempt: base * 2^(attempts - 1), capped at an hour, plus up to 25%
    random jitter, so that events failing together do not retry in lockstep."""
    nominal = min(BACKOFF_CAP_SECONDS, base * 2.0 ** min(attempts - 1, 64))
    return nominal * (1.0 + random.uniform(0.0, JITTER))


async def claim_due(
    session: AsyncWriteSession, *, batch_size: int, lease_seconds: float, max_attempts: int, bury: bool = True
) -> tuple[list[ClaimedEvent], int]:
    """Lease up to a batch of due events to the caller, and (with `bury`) bury the ones whose last attempt never
    reported an outcome; the events and how many were buried. Commit before delivering: the lease keeps others off
    them. (Burying can wait: the claim never takes an event whose attempts are used up.)"""
    buried = await repository.bury_abandoned(session, max_attempts=max_attempts) if bury else 0
    events = await repository.claim(
        session, batch_size=batch_size, lease_seconds=lease_seconds, max_attempts=max_attempts
    )
    return events, buried


async def record_outcomes(
    session: AsyncWriteSession, outcomes: Sequence[Outcome], *, max_attempts: int, backoff_base: float
) -> None:
    """Write the outcomes: delivered, due again after a backoff, or dead."""
    await repository.mark_delivered(session, [outcome.event.id for outcome in outcomes if outcome.error is None])
    for outcome in outcomes:
        if outcome.error is None:
            continue
        retry_in = None if outcome.is_dead(max_attempts) else backoff_seconds(backoff_base, outcome.event.attempts)
        await repository.mark_failed(session, outcome.event, outcome.error, retry_in_seconds=retry_in)


async def prune_delivered(session: AsyncWriteSession, *, delivered_before: datetime, limit: int) -> int:
    """Delete up to `limit` events delivered before `delivered_before`; pending and dead ones stay (operators list
    and retry those)."""
    return await repository.prune_delivered(session, delivered_before=delivered_before, limit=limit)
