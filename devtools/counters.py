"""What the trigger-kept member counters hold, beside the same figures counted from the rows.

The app never counts this way (docs/decisions.md, "Counters instead of counting"); the tests and `make chaos`
check the counters against these counts after their writes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg

_COUNTED_BUCKETS = """
    SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, u.status, u.gender, coalesce(s.plan, '') AS plan,
           u.deleted_at IS NOT NULL AS deleted, count(*) AS n
    FROM users u LEFT JOIN user_subscriptions s ON s.id = u.id AND s.status = 'active'
    GROUP BY 1, 2, 3, 4, 5
"""
_COUNTED_HOURS = """
    SELECT date_trunc('hour', created_at) AS hour, count(*) AS n FROM users WHERE deleted_at IS NULL GROUP BY 1
"""

Figures = dict[tuple[Any, ...], int]


async def _figures(conn: asyncpg.Connection | asyncpg.Pool, sql: str, key_columns: int) -> Figures:
    return {tuple(r.values())[:key_columns]: r["n"] for r in await conn.fetch(sql)}


async def kept_and_counted(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, tuple[Figures, Figures]]:
    """For each counter table (member_counts, member_totals, signup_hours): its non-zero rows, and the same
    buckets counted from the rows, each as {bucket: n}."""
    counted = await _figures(conn, _COUNTED_BUCKETS, 5)
    totals: Counter[tuple[Any, ...]] = Counter()
    for (_day, *bucket), n in counted.items():
        totals[tuple(bucket)] += n
    # A bucket may be spread over slots (member_totals): its rows summed.
    sql = "SELECT {columns}, sum(n) AS n FROM {table} GROUP BY {columns} HAVING sum(n) <> 0"
    return {
        "member_counts": (
            await _figures(conn, sql.format(columns="day, status, gender, plan, deleted", table="member_counts"), 5),
            counted,
        ),
        "member_totals": (
            await _figures(conn, sql.format(columns="status, gender, plan, deleted", table="member_totals"), 4),
            dict(totals),
        ),
        "signup_hours": (
            await _figures(conn, sql.format(columns="hour", table="signup_hours"), 1),
            await _figures(conn, _COUNTED_HOURS, 1),
        ),
    }
