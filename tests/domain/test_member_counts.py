"""The trigger-kept member counters match a count of the rows after every kind of change."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx

from devtools.counters import kept_and_counted
from tests.factories import create_member


async def assert_counters_exact(db: asyncpg.Connection) -> None:
    """member_counts per day and member_totals over all days both match a count of the rows."""
    figures = await kept_and_counted(db)
    kept, truth = figures["member_counts"]
    assert kept == truth
    totals, truth_totals = figures["member_totals"]
    assert totals == truth_totals


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


async def test_totals_follow_every_change(db: asyncpg.Connection) -> None:
    async def total(status: str, gender: str, plan: str = "", deleted: bool = False) -> int:
        n = await db.fetchval(
            "SELECT sum(n) FROM member_totals WHERE (status, gender, plan, deleted) = ($1, $2, $3, $4)",
            status,
            gender,
            plan,
            deleted,
        )
        return int(n or 0)

    before = await total("pending", "male")
    member = await create_member(db, status="pending", gender="male")
    assert await total("pending", "male") == before + 1
    await assert_counters_exact(db)
    await db.execute("UPDATE users SET status = 'active' WHERE id = $1", member)
    await db.execute("UPDATE users SET gender = 'female' WHERE id = $1", member)
    await assert_counters_exact(db)
    before = await total("active", "female", "plus")
    await db.execute("INSERT INTO user_subscriptions (id, plan, status) VALUES ($1, 'plus', 'active')", member)
    assert await total("active", "female", "plus") == before + 1
    await db.execute("UPDATE user_subscriptions SET plan = 'premium' WHERE id = $1", member)
    assert await total("active", "female", "plus") == before
    await assert_counters_exact(db)
    # Only the sign-up day changes: the day rows move, the totals stay.
    premium = await total("active", "female", "premium")
    await db.execute("UPDATE users SET created_at = created_at - interval '40 days' WHERE id = $1", member)
    assert await total("active", "female", "premium") == premium
    await assert_counters_exact(db)
    await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member)
    assert await total("active", "female", "premium") == premium - 1
    await assert_counters_exact(db)
    await db.execute("UPDATE users SET deleted_at = NULL WHERE id = $1", member)
    await db.execute("UPDATE user_subscriptions SET status = 'expired' WHERE id = $1", member)
    await assert_counters_exact(db)
    await db.execute("UPDATE user_subscriptions SET status = 'active', plan = 'free' WHERE id = $1", member)
    await db.execute("DELETE FROM user_subscriptions WHERE id = $1", member)
    await assert_counters_exact(db)
    await db.execute("INSERT INTO user_subscriptions (id, plan, status) VALUES ($1, 'plus', 'active')", member)
    await db.execute("DELETE FROM users WHERE id = $1", member)  # cascades to the subscription
    await assert_counters_exact(db)


async def test_rebuild_restores_both_counters(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            # Counters gone wrong (as a seed leaves them, with the triggers off), rebuilt, then rolled back.
            await conn.execute("UPDATE member_counts SET n = n + 3")
            await conn.execute("UPDATE member_totals SET n = n - 2")
            await conn.execute(
                "INSERT INTO member_totals (status, gender, plan, deleted, slot, n)"
                " VALUES ('rejected', 'male', 'plus', true, 3, 7)"
                " ON CONFLICT (status, gender, plan, deleted, slot) DO UPDATE SET n = member_totals.n + 7"
            )
            await conn.execute("SELECT member_counts_rebuild()")
            await assert_counters_exact(conn)  # type: ignore[arg-type]
        finally:
            await transaction.rollback()


async def test_a_stalled_move_holds_no_totals_row(db: asyncpg.Pool) -> None:
    """Moves lock their day rows, then their totals rows: a move waiting on a day row blocks no totals row.

    With the day and totals rows of each add interleaved, a move stalled on its second day row would hold the
    first totals row, and two moves taking the same totals rows in opposite orders could deadlock.
    """
    a = await create_member(db, status="pending", gender="male")  # type: ignore[arg-type]
    b = await create_member(db, status="active", gender="male")  # type: ignore[arg-type]
    await db.execute("UPDATE users SET created_at = now() - interval '100 days' WHERE id = $1", a)
    await db.execute("UPDATE users SET created_at = now() - interval '200 days' WHERE id = $1", b)
    a_new_day = await db.fetchval(
        "SELECT ((created_at + interval '10 days') AT TIME ZONE 'UTC')::date FROM users WHERE id = $1", a
    )
    async with db.acquire() as holder, db.acquire() as mover, db.acquire() as other:
        # `holder` holds the day row that A moves to, so A's move stops there.
        holding = holder.transaction()
        await holding.start()
        try:
            await holder.execute("SELECT member_counts_day_add($1, 'active', 'male', '', false, 0)", a_new_day)
            stalled = asyncio.ensure_future(
                mover.execute(
                    "UPDATE users SET status = 'active', created_at = created_at + interval '10 days' WHERE id = $1", a
                )
            )
            await asyncio.sleep(0.3)
            assert not stalled.done()
            # B moves between the same two totals rows the other way round and must not wait on A.
            async with asyncio.timeout(5):
                await other.execute(
                    "UPDATE users SET status = 'pending', created_at = created_at + interval '10 days' WHERE id = $1", b
                )
        finally:
            await holding.rollback()
        async with asyncio.timeout(5):
            await stalled
    await assert_counters_exact(db)  # type: ignore[arg-type]
    await db.execute("DELETE FROM users WHERE id = ANY($1::uuid[])", [a, b])
    await assert_counters_exact(db)  # type: ignore[arg-type]


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


async def test_decisions_on_other_backends_do_not_wait_on_one_totals_row(db: asyncpg.Pool) -> None:
    """member_totals spreads a bucket over slots, one per backend (migration 0016): two approvals of members in
    the same bucket, uncommitted at once on two backends, each take a row of their own."""
    a = await create_member(db, status="pending", gender="female")  # type: ignore[arg-type]
    b = await create_member(db, status="pending", gender="female")  # type: ignore[arg-type]
    # Different sign-up days: the day rows are not what is tested here.
    await db.execute("UPDATE users SET created_at = now() - interval '300 days' WHERE id = $1", a)
    await db.execute("UPDATE users SET created_at = now() - interval '301 days' WHERE id = $1", b)
    async with contextlib.AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(db.acquire()) for _ in range(4)]
        slots = [await conn.fetchval("SELECT pg_backend_pid() % 16") for conn in connections]
        first = connections[0]
        second = next(conn for conn, slot in zip(connections, slots, strict=True) if slot != slots[0])
        holding = first.transaction()
        await holding.start()
        try:
            await first.execute("UPDATE users SET status = 'active' WHERE id = $1", a)
            async with asyncio.timeout(5):
                await second.execute("UPDATE users SET status = 'active' WHERE id = $1", b)
            await holding.commit()
        except BaseException:
            await holding.rollback()
            raise
    assert await db.fetchval("SELECT count(DISTINCT slot) FROM member_totals WHERE status = 'active'") >= 2
    await assert_counters_exact(db)  # type: ignore[arg-type]
    await db.execute("DELETE FROM users WHERE id = ANY($1::uuid[])", [a, b])
    await assert_counters_exact(db)  # type: ignore[arg-type]
