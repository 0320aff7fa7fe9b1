"""Housekeeping lifts timed suspensions that have run out, and stays out of an operator's way on the same member."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.identity import HOUSEKEEPING, AuditContext
from backend.domain.member.writes import MemberWriteService
from backend.infrastructure.settings import Settings
from backend.runtime.housekeeping import Housekeeper
from tests.factories import create_member

MEMBERS = "/api/v1/admin/members"


pytestmark = pytest.mark.usefixtures("own_members")


def housekeeper(app: FastAPI, settings: Settings) -> Housekeeper:
    return Housekeeper(app_state(app).database, app_state(app).storage, settings)


async def suspended(db: asyncpg.Pool | asyncpg.Connection, until: timedelta | None) -> uuid.UUID:
    """A suspended member whose suspension ends `until` from now (None: no end)."""
    member_id = await create_member(cast(asyncpg.Connection, db), status="suspended")
    await db.execute("UPDATE users SET suspended_until = now() + $2::interval WHERE id = $1", member_id, until)
    return member_id


async def note_kinds(db: asyncpg.Pool | asyncpg.Connection, member_id: uuid.UUID) -> list[str]:
    rows = await db.fetch("SELECT kind FROM member_notes WHERE user_id = $1 ORDER BY created_at", member_id)
    return [row["kind"] for row in rows]


async def test_an_expired_suspension_is_lifted_with_a_note_an_audit_row_and_an_event(
    app: FastAPI, settings: Settings, db: asyncpg.Connection
) -> None:
    expired = await suspended(db, timedelta(minutes=-1))
    running = await suspended(db, timedelta(hours=1))
    open_ended = await suspended(db, None)
    ended_at = await db.fetchval("SELECT suspended_until FROM users WHERE id = $1", expired)

    report = await housekeeper(app, settings).run_once()

    assert report.suspensions_lifted >= 1
    statuses = {
        row["id"]: (row["status"], row["suspended_until"] is None)
        for row in await db.fetch(
            "SELECT id, status, suspended_until FROM users WHERE id = ANY($1)", [expired, running, open_ended]
        )
    }
    assert statuses == {expired: ("active", True), running: ("suspended", False), open_ended: ("suspended", True)}
    note = await db.fetchrow("SELECT kind, author_id, content FROM member_notes WHERE user_id = $1", expired)
    assert note is not None
    assert (note["kind"], note["author_id"]) == ("unsuspended", None)
    assert ended_at.isoformat() in note["content"]
    [audit] = await db.fetch(
        "SELECT action, actor_type, actor_id, changes FROM audit_log WHERE entity_id = $1", str(expired)
    )
    assert (audit["action"], audit["actor_type"], audit["actor_id"]) == ("member.unsuspended", "system", None)
    assert json.loads(audit["changes"])["status"] == {"before": "suspended", "after": "active"}
    [event] = await db.fetch(
        "SELECT payload FROM outbox WHERE topic = 'member.unsuspended' AND payload->>'member_id' = $1", str(expired)
    )
    payload = json.loads(event["payload"])
    assert (payload["previous_status"], payload["status"]) == ("suspended", "active")
    assert payload["actor"]["name"] == HOUSEKEEPING.name
    assert await note_kinds(db, running) == await note_kinds(db, open_ended) == []


async def test_a_member_an_operator_is_deciding_is_skipped_and_one_decided_since_is_left_alone(
    app: FastAPI, settings: Settings, db: asyncpg.Pool
) -> None:
    locked = await suspended(db, timedelta(minutes=-1))
    keeper = housekeeper(app, settings)
    async with db.acquire() as operator, operator.transaction():
        # An operator's decision holds the row: the pass goes past it instead of waiting.
        await operator.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", locked)
        await asyncio.wait_for(keeper.run_once(), timeout=30)
        assert await db.fetchval("SELECT status FROM users WHERE id = $1", locked) == "suspended"
        await operator.execute("UPDATE users SET status = 'banned', suspended_until = NULL WHERE id = $1", locked)
    # Listed as a candidate, then banned before its turn came: the check under the lock sees it.
    decided = await suspended(db, timedelta(minutes=-1))
    await db.execute("UPDATE users SET status = 'banned' WHERE id = $1", decided)
    async with app_state(app).database.write_sessions() as session, session.begin():
        service = MemberWriteService(session, AuditContext(HOUSEKEEPING, None), app_state(app).storage, b"k" * 32)
        assert await service.lift_suspension(decided, datetime.now(UTC)) is False
    await keeper.run_once()
    assert [await db.fetchval("SELECT status FROM users WHERE id = $1", m) for m in (locked, decided)] == ["banned"] * 2
    assert await note_kinds(db, locked) == await note_kinds(db, decided) == []


async def test_housekeeping_racing_operators_decides_each_member_once(
    app: FastAPI, settings: Settings, db: asyncpg.Connection, moderator: httpx.AsyncClient
) -> None:
    members = [await suspended(db, timedelta(seconds=-1)) for _ in range(30)]
    keeper = housekeeper(app, settings)

    async def operators() -> list[int]:
        answers = await asyncio.gather(*(moderator.post(f"{MEMBERS}/{m}/approve", json={}) for m in members))
        return [answer.status_code for answer in answers]

    _, statuses = await asyncio.gather(keeper.run_once(), operators())

    assert set(statuses) <= {200, 409}
    for member_id, status in zip(members, statuses, strict=True):
        # Approved by the operator (200), or lifted first and then no longer suspended (409): never both.
        assert await note_kinds(db, member_id) == (["approved"] if status == 200 else ["unsuspended"])
        assert await db.fetchval("SELECT status FROM users WHERE id = $1", member_id) == "active"
