"""The trigger-kept queue counters match a count of the joined rows after every kind of change, and after
a member's change and an item's change race each other."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from devtools.services import ServiceUrls
from tests.conftest import asyncpg_dsn
from tests.factories import create_member

# Buckets whose kept count differs from a count of the rows, in one snapshot (the slots summed).
DRIFT = """
    WITH truth AS (
        SELECT e.entity, e.status, u.status AS member_status, u.gender,
               e.deleted OR u.deleted_at IS NOT NULL AS deleted, count(*) AS n
        FROM (SELECT 'photo' AS entity, user_id, status, deleted_at IS NOT NULL AS deleted FROM user_photos
              UNION ALL
              SELECT 'document', user_id, status, deleted_at IS NOT NULL FROM user_documents) e
        JOIN users u ON u.id = e.user_id
        GROUP BY 1, 2, 3, 4, 5
    ), kept AS (
        SELECT entity, status, member_status, gender, deleted, sum(n) AS n FROM queue_counts
        GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0
    )
    SELECT entity, status, member_status, gender, deleted, truth.n AS truth, kept.n AS kept
    FROM truth FULL JOIN kept USING (entity, status, member_status, gender, deleted)
    WHERE truth.n IS DISTINCT FROM kept.n
"""
KEPT = "SELECT entity, status, member_status, gender, deleted, slot, n FROM queue_counts WHERE n <> 0"


async def assert_queue_counts_exact(db: asyncpg.Connection) -> None:
    assert [dict(row) for row in await db.fetch(DRIFT)] == []


async def add_photo(db: asyncpg.Connection, member: uuid.UUID, status: str = "pending") -> uuid.UUID:
    photo_id: uuid.UUID = await db.fetchval(
        "INSERT INTO user_photos (user_id, s3_key, status) VALUES ($1, 'k', $2) RETURNING id", member, status
    )
    return photo_id


async def add_document(db: asyncpg.Connection, member: uuid.UUID, status: str = "pending") -> uuid.UUID:
    document_id: uuid.UUID = await db.fetchval(
        "INSERT INTO user_documents (user_id, doc_type, s3_key, status) VALUES ($1, 'identity', 'k', $2) RETURNING id",
        member,
        status,
    )
    return document_id


async def test_counters_follow_every_change(db: asyncpg.Connection) -> None:
    await assert_queue_counts_exact(db)
    member = await create_member(db, status="pending", gender="male")
    photos = [await add_photo(db, member) for _ in range(3)]
    document = await add_document(db, member, status="uploading")
    await assert_queue_counts_exact(db)
    await db.execute("UPDATE user_photos SET status = 'approved' WHERE id = $1", photos[0])
    await db.execute("UPDATE user_photos SET deleted_at = now() WHERE id = $1", photos[1])
    await db.execute("UPDATE user_documents SET status = 'pending' WHERE id = $1", document)
    await assert_queue_counts_exact(db)
    await db.execute("UPDATE users SET status = 'active', gender = 'female' WHERE id = $1", member)
    await assert_queue_counts_exact(db)
    await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member)
    await db.execute("UPDATE user_photos SET status = 'rejected' WHERE id = $1", photos[2])
    await assert_queue_counts_exact(db)
    await db.execute("UPDATE users SET deleted_at = NULL WHERE id = $1", member)
    await db.execute("DELETE FROM user_photos WHERE id = $1", photos[0])
    await assert_queue_counts_exact(db)
    await db.execute("DELETE FROM users WHERE id = $1", member)  # cascades to its photos and documents
    await assert_queue_counts_exact(db)


async def test_rebuild_gives_the_counts_the_triggers_kept(db: asyncpg.Connection, services: ServiceUrls) -> None:
    member = await create_member(db, status="active")
    await add_photo(db, member)
    await add_document(db, member)
    conn = await asyncpg.connect(asyncpg_dsn(services.superuser_database_url))
    try:
        tx = conn.transaction()
        await tx.start()
        kept = {tuple(r.values())[:6]: r["n"] for r in await conn.fetch(KEPT)}
        await conn.execute("SELECT queue_counts_rebuild()")
        rebuilt = {tuple(r.values())[:6]: r["n"] for r in await conn.fetch(KEPT)}
        await tx.rollback()
    finally:
        await conn.close()
    assert rebuilt == kept


@pytest.fixture
async def connections(services: ServiceUrls) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    first = await asyncpg.connect(asyncpg_dsn(services.superuser_database_url))
    second = await asyncpg.connect(asyncpg_dsn(services.superuser_database_url))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def waiting_for_lock(db: asyncpg.Connection, conn: asyncpg.Connection) -> None:
    """Until `conn`'s backend waits for a lock another transaction holds."""
    pid = conn.get_server_pid()
    for _ in range(500):
        if await db.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second transaction never waited for the first")


Step = Callable[[asyncpg.Connection], Awaitable[object]]


@pytest.mark.parametrize("member_first", [True, False], ids=["member-change-first", "photo-change-first"])
async def test_a_member_change_racing_a_photo_change_keeps_the_counts_exact(
    db: asyncpg.Connection, connections: tuple[asyncpg.Connection, asyncpg.Connection], member_first: bool
) -> None:
    member = await create_member(db, status="pending", gender="female")
    photo = await add_photo(db, member)
    await assert_queue_counts_exact(db)

    async def member_change(conn: asyncpg.Connection) -> object:
        return await conn.execute("UPDATE users SET status = 'active' WHERE id = $1", member)

    async def photo_change(conn: asyncpg.Connection) -> object:
        return await conn.execute("UPDATE user_photos SET status = 'approved' WHERE id = $1", photo)

    first_step, second_step = (member_change, photo_change) if member_first else (photo_change, member_change)
    first, second = connections
    first_tx = first.transaction()
    await first_tx.start()
    await first_step(first)  # its counter trigger holds the member's lock until it commits

    async def run_second() -> None:
        async with second.transaction():
            await second_step(second)

    task = asyncio.create_task(run_second())
    await waiting_for_lock(db, second)
    await first_tx.commit()
    await task
    assert await db.fetchval("SELECT status FROM user_photos WHERE id = $1", photo) == "approved"
    await assert_queue_counts_exact(db)
    await db.execute("DELETE FROM users WHERE id = $1", member)
