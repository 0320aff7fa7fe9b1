"""The trigger-kept member counters match a count of the rows after every kind of change."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.factories import create_member

TRUTH = """
    SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, u.status, u.gender, coalesce(s.plan, '') AS plan,
           u.deleted_at IS NOT NULL AS deleted, count(*) AS n
    FROM users u LEFT JOIN user_subscriptions s ON s.id = u.id AND s.status = 'active'
    GROUP BY 1, 2, 3, 4, 5
"""


async def assert_counters_exact(db: asyncpg.Connection) -> None:
    truth = {tuple(r.values())[:5]: r["n"] for r in await db.fetch(TRUTH)}
    kept = {
        tuple(r.values())[:5]: r["n"]
        for r in await db.fetch("SELECT day, status, gender, plan, deleted, n FROM member_counts WHERE n <> 0")
    }
    assert kept == truth


async def test_counters_follow_every_change(db: asyncpg.Connection) -> None:
    await assert_counters_exact(db)
    member = await create_member(db, status="pending", gender="male")
    await db.execute("UPDATE users SET status = 'active' WHERE id = $1", member)
    await db.execute("INSERT INTO user_subscriptions (id, plan, status) VALUES ($1, 'plus', 'active')", member)
    await db.execute("UPDATE user_subscriptions SET plan = 'premium' WHERE id = $1", member)
    await db.execute(
        "UPDATE users SET gender = 'female', created_at = created_at - interval '3 days' WHERE id = $1", member
    )
    await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member)
    await assert_counters_exact(db)
    await db.execute("UPDATE users SET deleted_at = NULL WHERE id = $1", member)
    await db.execute("UPDATE user_subscriptions SET status = 'cancelled' WHERE id = $1", member)
    await db.execute("UPDATE user_subscriptions SET status = 'active' WHERE id = $1", member)
    await assert_counters_exact(db)
    await db.execute("DELETE FROM users WHERE id = $1", member)  # cascades to the subscription
    await assert_counters_exact(db)


async def test_counters_stay_exact_under_concurrent_moves(db: asyncpg.Pool) -> None:
    members = [await create_member(db) for _ in range(6)]  # type: ignore[arg-type]

    async def churn(member: object, status: str) -> None:
        async with db.acquire() as conn:
            for _ in range(5):
                await conn.execute("UPDATE users SET status = $2 WHERE id = $1", member, status)
                await conn.execute("UPDATE users SET status = 'pending' WHERE id = $1", member)

    await asyncio.gather(*(churn(m, "active" if i % 2 else "suspended") for i, m in enumerate(members)))
    await assert_counters_exact(db)  # type: ignore[arg-type]


async def test_totals_with_plan_status_and_a_time_range_are_exact(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    # A range starting and ending mid-day: whole days from the counters, the edges counted row by row.
    params = {
        "status": "active",
        "plan": "plus,premium",
        "signed_up_from": "2025-03-10T13:45:00+09:00",
        "signed_up_to": "2026-10-01T08:00:00+09:00",
    }
    expected = await db.fetchval(
        """
        SELECT count(*) FROM users u WHERE u.deleted_at IS NULL AND u.status = 'active'
          AND u.created_at >= '2025-03-10T13:45:00+09:00' AND u.created_at <= '2026-10-01T08:00:00+09:00'
          AND EXISTS (SELECT 1 FROM user_subscriptions s WHERE s.id = u.id AND s.status = 'active'
                      AND s.plan IN ('plus', 'premium'))
        """
    )
    response = await client.get("/api/v1/admin/members", params=params)
    assert response.status_code == 200
    assert int(response.headers["X-Total-Count"]) == expected


async def test_moderation_and_signup_counters_follow_changes(db: asyncpg.Connection) -> None:
    async def exact() -> None:
        kept = await db.fetch(
            "SELECT entity, status, sum(n) AS n FROM moderation_counts GROUP BY 1, 2 HAVING sum(n) <> 0"
        )
        truth = await db.fetch(
            "SELECT 'photo' AS entity, status, count(*) AS n FROM user_photos WHERE deleted_at IS NULL GROUP BY 2"
            " UNION ALL SELECT 'document', status, count(*) FROM user_documents WHERE deleted_at IS NULL GROUP BY 2"
        )
        assert {(r["entity"], r["status"]): r["n"] for r in kept} == {(r["entity"], r["status"]): r["n"] for r in truth}
        hours = await db.fetch("SELECT hour, n FROM signup_hours WHERE n <> 0")
        truth_hours = await db.fetch(
            "SELECT date_trunc('hour', created_at) AS hour, count(*) AS n FROM users"
            " WHERE deleted_at IS NULL GROUP BY 1"
        )
        assert {r["hour"]: r["n"] for r in hours} == {r["hour"]: r["n"] for r in truth_hours}

    await exact()
    member = await create_member(db)
    photo = await db.fetchval(
        "INSERT INTO user_photos (user_id, s3_key, status) VALUES ($1, 'k', 'pending') RETURNING id", member
    )
    await db.execute("UPDATE user_photos SET status = 'approved' WHERE id = $1", photo)
    await db.execute("INSERT INTO user_documents (user_id, doc_type, s3_key) VALUES ($1, 'identity', 'd')", member)
    await db.execute("UPDATE users SET created_at = created_at - interval '5 hours' WHERE id = $1", member)
    await exact()
    await db.execute("UPDATE user_photos SET deleted_at = now() WHERE id = $1", photo)
    await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member)
    await exact()
    await db.execute("DELETE FROM users WHERE id = $1", member)
    await exact()
