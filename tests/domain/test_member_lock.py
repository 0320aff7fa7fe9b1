"""The member's locked read, which every write on a member starts with (`repository.lock_member`)."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.member import repository


async def test_a_second_lock_in_one_transaction_gives_the_sessions_object_as_locked(
    app: FastAPI, db: asyncpg.Pool
) -> None:
    member_id = await db.fetchval("SELECT id FROM users WHERE deleted_at IS NULL AND erased_at IS NULL LIMIT 1")
    stored = await db.fetchval("SELECT name FROM users WHERE id = $1", member_id)
    async with app_state(app).database.write_session() as session:
        first = await repository.lock_member(session, member_id)
        assert first is not None
        assert first.name == stored
        first.name = "changed, never flushed"
        second = await repository.lock_member(session, member_id)
        assert second is first
        assert second.name == stored
        assert not session.is_modified(second)
        await session.rollback()
