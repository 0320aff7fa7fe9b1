"""Recording side effects: written in the change's transaction, delivered by the worker after commit.

An event is one side effect, and its payload says which kind (the worker reads nothing else):

- `{"action": "delete_object", "s3_key": "<key>", ...}` deletes that object from the app's bucket
  (`enqueue_object_deletion` builds it; `photo.deleted` events use it), now or, scheduled through the event's
  `next_attempt_at`, later (an upload key is deleted again once its form has expired);
- any other payload is a notification, POSTed as a signed webhook (member.approved, photo.rejected, ...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.identity import AuditContext
from backend.domain.ordering import created_id_position
from backend.domain.outbox import repository
from backend.domain.outbox.models import OutboxStatus
from backend.domain.outbox.repository import OutboxQuery
from backend.domain.outbox.schemas import OutboxEventRead, OutboxFilters
from backend.domain.sessions import AnySession, AsyncReadSession, AsyncWriteSession

# Set on a session that enqueued events, so the request can nudge the worker right after its commit.
OUTBOX_PENDING = "outbox_pending"

ACTION = "action"
DELETE_OBJECT = "delete_object"
S3_KEY = "s3_key"


async def enqueue(
    session: AsyncWriteSession, topic: str, payload: dict[str, Any], *, due_at: datetime | None = None
) -> None:
    """An event to deliver once (and only if) this transaction commits: at once, or not before `due_at`."""
    await repository.add(session, topic, payload, due_at=due_at)
    if due_at is None:
        session.info[OUTBOX_PENDING] = True


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
