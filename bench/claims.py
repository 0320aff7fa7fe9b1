"""`reviews/next` under load: how fast moderators take items, and that no item is ever handed to two of them.

Before the load every member claim is released, and afterwards the audit trail (each claim writes one
`member.claimed` row in its own transaction) is checked in SQL: a member claimed more than once within the
window is a double claim. The claims last REVIEW_CLAIM_SECONDS (300 s), longer than the load, so within the
window no claim lapses and any repeat is a fault. The load's claims are released again afterwards.
"""

from __future__ import annotations

import asyncio
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


def release_claims(dsn: str) -> ClaimCheck:
    """Every member claim released; the moment from which the load's claims are counted."""
    return ClaimCheck(asyncio.run(_release(dsn)))


async def _double_claims(dsn: str, since: datetime) -> Check:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """
            SELECT count(*) AS claims, count(DISTINCT entity_id) AS members,
                   (SELECT count(*) FROM (SELECT entity_id FROM audit_log
                                          WHERE action = 'member.claimed' AND created_at >= $1
                                          GROUP BY entity_id HAVING count(*) > 1) AS d) AS doubled
            FROM audit_log WHERE action = 'member.claimed' AND created_at >= $1
            """,
            since,
        )
        held = await conn.fetchval("SELECT count(*) FROM users WHERE claimed_until > now()")
        await conn.execute("UPDATE users SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL")
    finally:
        await conn.close()
    assert row is not None
    claims, members, doubled = int(row["claims"]), int(row["members"]), int(row["doubled"])
    detail = f"{claims:,} claims of {members:,} members, {doubled} claimed twice; {held:,} claims in force after"
    return Check(claims > 0 and doubled == 0 and held == members, detail)


def double_claims(dsn: str, check: ClaimCheck) -> Check:
    """The load's claims from the audit trail: none twice, and each one in force on its member."""
    return asyncio.run(_double_claims(dsn, check.started_at))
