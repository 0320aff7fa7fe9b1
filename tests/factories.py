"""Small async factories for test data, written straight to the primary."""

from __future__ import annotations

import random
import uuid

import asyncpg


def unique_phone() -> str:
    return f"+8219{random.randrange(10**8):08d}"


async def create_member(
    db: asyncpg.Connection,
    *,
    status: str = "pending",
    name: str = "Test Member",
    gender: str = "female",
    birth_year: int = 1990,
    phone: str | None = None,
    deleted: bool = False,
) -> uuid.UUID:
    """A member with a profile; returns its id."""
    member_id: uuid.UUID = await db.fetchval(
        """
        INSERT INTO users (phone, name, gender, birth_year, status, deleted_at)
        VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END) RETURNING id
        """,
        phone or unique_phone(),
        name,
        gender,
        birth_year,
        status,
        deleted,
    )
    await db.execute("INSERT INTO user_profiles (id, job) VALUES ($1, 'Engineer')", member_id)
    return member_id
