"""All SQL of the review queues: taking the oldest unclaimed item of a queue."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from backend.domain.review.schemas import Queue
from backend.domain.sessions import AsyncWriteSession, Row, fetch


@dataclass(frozen=True)
class QueueSql:
    """What differs between the queues: the table, its waiting items, the member column, and what to return."""

    table: str
    waiting: str  # on alias t; the same condition as the partial indexes of migration 0013
    member: str  # the member's id column
    returning: str = ""


_LIVE_MEMBER = "EXISTS (SELECT 1 FROM users lm WHERE lm.id = t.user_id AND lm.deleted_at IS NULL)"
QUEUES: Mapping[Queue, QueueSql] = {
    Queue.members: QueueSql("users", "t.status = 'pending' AND t.deleted_at IS NULL", "t.id"),
    Queue.photos: QueueSql(
        "user_photos",
        f"t.status = 'pending' AND t.deleted_at IS NULL AND {_LIVE_MEMBER}",
        "t.user_id",
        ", t.s3_key, t.status, t.content_type, t.display_order",
    ),
    Queue.documents: QueueSql(
        "user_documents",
        f"t.status = 'pending' AND t.deleted_at IS NULL AND {_LIVE_MEMBER}",
        "t.user_id",
        ", t.s3_key, t.status, t.doc_type",
    ),
    Queue.reports: QueueSql("reports", "t.status = 'open'", "t.reported_member_id"),
}


def _claim_sql(queue: QueueSql) -> str:
    """One statement: lock the oldest item nobody holds (a claim never made, or one that lapsed), skipping rows
    other claimers have locked, and make it the caller's.

    The two candidates come from the two partial indexes (ix_<table>_*_unclaimed in queue order, and
    ix_<table>_*_claims for lapsed claims, a range up to now); the older one is taken. FOR UPDATE SKIP LOCKED
    makes concurrent claimers pass over each other's rows instead of waiting for them, and once a claim commits
    its `claimed_until` keeps the row from every other claimer until it lapses. $3 lists items the caller passed
    over (skipped): they are stepped over in the index walk.
    """
    t = queue.table
    return f"""
        WITH fresh AS (
            SELECT t.id, t.created_at, NULL::uuid AS previous_by, NULL::timestamptz AS previous_until FROM {t} t
            WHERE {queue.waiting} AND t.claimed_until IS NULL AND t.id <> ALL($3::uuid[])
            ORDER BY t.created_at, t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED
        ), lapsed AS (
            SELECT t.id, t.created_at, t.claimed_by, t.claimed_until FROM {t} t
            WHERE {queue.waiting} AND t.claimed_until IS NOT NULL AND t.claimed_until <= now()
              AND t.id <> ALL($3::uuid[])
            ORDER BY t.created_at, t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED
        ), next AS (
            SELECT * FROM (SELECT * FROM fresh UNION ALL SELECT * FROM lapsed) c ORDER BY created_at, id LIMIT 1
        )
        UPDATE {t} t SET claimed_by = $1, claimed_until = now() + $2::integer * interval '1 second'
        FROM next, users m
        WHERE t.id = next.id AND m.id = {queue.member}
        RETURNING t.id, t.created_at, t.claimed_by, t.claimed_until, next.previous_by, next.previous_until,
                  m.id AS member_id, m.name AS member_name, m.status AS member_status{queue.returning}
    """


_CLAIMS = {queue: _claim_sql(sql) for queue, sql in QUEUES.items()}


async def claim_next(
    session: AsyncWriteSession, queue: Queue, holder: uuid.UUID, seconds: int, exclude: Sequence[uuid.UUID] = ()
) -> Row | None:
    """Claim the oldest unclaimed item of `queue` (but those in `exclude`) for `holder` for `seconds`: its row, or
    None when none waits."""
    rows = await fetch(session, _CLAIMS[queue], holder, seconds, list(exclude))
    return rows[0] if rows else None


async def release(session: AsyncWriteSession, queue: Queue, item_id: uuid.UUID, holder: uuid.UUID) -> Row | None:
    """End `holder`'s claim in force on the item (it goes back to its queue at its old place): the claim released,
    or None when the holder had none on it."""
    sql = f"""
        UPDATE {QUEUES[queue].table} t SET claimed_by = NULL, claimed_until = NULL
        FROM {QUEUES[queue].table} old
        WHERE t.id = $1 AND old.id = t.id AND t.claimed_by = $2 AND t.claimed_until > now()
        RETURNING old.claimed_by, old.claimed_until
    """
    rows = await fetch(session, sql, item_id, holder)
    return rows[0] if rows else None
