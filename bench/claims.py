"""`reviews/next` under load: how fast moderators take items, and that no item is ever handed to two of them.

Before the load every member claim is released, and afterwards the audit trail (each claim writes one
`member.claimed` row in its own transaction) is checked in SQL: a member claimed more than once within the
window is a double claim. The claims last REVIEW_CLAIM_SECONDS (300 s), longer than the load, so within the
window no claim lapses and any repeat is a fault. The load's claims are released again afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from bench.checks import Check

QUEUE_BODY = b'{"queue": "members"}'
PATH = "/api/v1/admin/reviews/next"


@dataclass(frozen=True)
class ClaimCheck:
    started_at: datetime


async def _release(dsn: str) -> datetime:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE users SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL")
        started: datetime = await conn.fetchval("SELECT clock_timestamp()")
        return started
    finally:
        await conn.close()


async def _explain(dsn: str) -> list[str]:
    from backend.domain.dashboard.repository import _QUEUES
    from backend.domain.review.repository import _CLAIMS
    from backend.domain.review.schemas import Queue

    lines = []
    conn = await asyncpg.connect(dsn)
    try:
        for queue in (Queue.members, Queue.photos):
            transaction = conn.transaction()
            await transaction.start()
            try:
                plan = await conn.fetch(
                    f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {_CLAIMS[queue]}", uuid.uuid4(), 300, []
                )
            finally:
                await transaction.rollback()
            lines += [f"-- {queue.value}", *(row[0] for row in plan)]
        # The dashboard's queues section: its waiting counts and the age of each queue's oldest item.
        plan = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {_QUEUES.text}")
        lines += ["-- dashboard queues section", *(row[0] for row in plan)]
    finally:
        await conn.close()
    return lines


def explain(dsn: str) -> list[str]:
    """The plans of one claim on the members and the photos queue (EXPLAIN ANALYZE, rolled back)."""
    return asyncio.run(_explain(dsn))


def release_claims(dsn: str) -> ClaimCheck:
    """Every member claim released; the moment from which the load's claims are counted."""
    return ClaimCheck(asyncio.run(_release(dsn)))


async def _double_claims(dsn: str, since: datetime) -> Check:
    conn = await asyncpg.connect(dsn)
    try:
        # One statement, one snapshot: the audit rows and the claims they made are compared as of one moment.
        row = await conn.fetchrow(
            """
            SELECT count(*) AS claims, count(DISTINCT entity_id) AS members,
                   (SELECT count(*) FROM (SELECT entity_id FROM audit_log
                                          WHERE action = 'member.claimed' AND created_at >= $1
                                          GROUP BY entity_id HAVING count(*) > 1) AS d) AS doubled,
                   (SELECT count(*) FROM users WHERE claimed_until > now()) AS held
            FROM audit_log WHERE action = 'member.claimed' AND created_at >= $1
            """,
            since,
        )
        await conn.execute("UPDATE users SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL")
    finally:
        await conn.close()
    assert row is not None
    claims, members, doubled, held = (int(row[name]) for name in ("claims", "members", "doubled", "held"))
    detail = f"{claims:,} claims of {members:,} members, {doubled} claimed twice; {held:,} claims in force after"
    return Check(claims > 0 and doubled == 0 and held == members, detail)


def double_claims(dsn: str, check: ClaimCheck) -> Check:
    """The load's claims from the audit trail: none twice, and each one in force on its member."""
    return asyncio.run(_double_claims(dsn, check.started_at))
