"""The raw baseline's writes (issue 16): the statements the app runs for each write, in one transaction on asyncpg.

Each handler runs what the app's write path sends PostgreSQL, in its order, on one connection of a pool on the
primary, in one transaction: the member's row locked, the checks made on it in Python, the change, the note, the
audit row and the outbox event, and the member's detail (the app's own `_DETAIL` statement, imported) as the answer.
No ORM, no validation layer, no presigning, no authentication, no read-your-writes position: the floor the app's
writes are measured against. Outbox events are written due a day later, so that the app's outbox worker, which
sweeps the same table, does not deliver the baseline's events while the app is measured (`bench/writes.py`
deletes them afterwards).

Endpoints (a JSON body as the app's; answers the app's status codes for the cases the bench makes):

    POST  /w/members/<id>/approve | /reject     the review decision
    PATCH /w/members/<id>                       {"name": ...} with If-Match: "<version>"
    POST  /w/members                            a member with a profile
    POST  /w/members/<id>/notes                 {"content": ...}
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import asyncpg
import orjson

from backend.domain.member.repository import _DETAIL as MEMBER_DETAIL

LOCK = "SELECT * FROM users WHERE id = $1 FOR UPDATE"
LIVE_MEMBER = "SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL"
DECIDE = """
UPDATE users SET status = $2, suspended_until = NULL, claimed_by = NULL, claimed_until = NULL,
                 version = version + 1, updated_at = now()
WHERE id = $1
"""
RENAME = "UPDATE users SET name = $2, version = version + 1, updated_at = now() WHERE id = $1"
NOTE = """
INSERT INTO member_notes (id, user_id, author_id, kind, content, reason_code, created_at)
VALUES ($1, $2, NULL, $3, $4, $5, now())
"""
NOTE_RETURNING = NOTE.strip() + " RETURNING id, user_id, author_id, kind, content, reason_code, created_at"
AUDIT = """
INSERT INTO audit_log (actor_type, actor_id, action, entity_type, entity_id, changes, request_id, created_at)
VALUES ('api_key', NULL, $1, 'member', $2, $3::jsonb, $4, now())
"""
OUTBOX = """
INSERT INTO outbox (topic, payload, next_attempt_at) VALUES ($1, $2::jsonb, now() + interval '1 day')
"""
PHONE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('memberdesk'), hashtext('phone:' || $1))"
PHONE_BLOCKED = "SELECT phone_hash FROM phone_blocks WHERE phone_hash = $1 LIMIT 1"
PHONE_OWNER = "SELECT id FROM users WHERE phone = $1 AND deleted_at IS NULL"
CREATE = """
INSERT INTO users (id, phone, name, gender, birth_year, status, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 1, now(), now())
RETURNING *
"""
PROFILE = """
INSERT INTO user_profiles (id, height_cm, education, job, region, bio) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET height_cm = EXCLUDED.height_cm, education = EXCLUDED.education, job = EXCLUDED.job,
    region = EXCLUDED.region, bio = EXCLUDED.bio
"""

DECISIONS = {
    # action: (from statuses, to status, note kind = audit action's and topic's suffix)
    "approve": (("pending", "suspended"), "active", "approved"),
    "reject": (("pending",), "rejected", "rejected"),
}
PHONE_KEY = b"bench baseline phone block key"


class WriteError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


async def _detail(conn: asyncpg.pool.PoolConnectionProxy[Any], member_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow(MEMBER_DETAIL, member_id, True)
    assert row is not None
    return dict(row)


async def decide(pool: asyncpg.Pool, member_id: uuid.UUID, action: str, body: dict[str, Any]) -> dict[str, Any]:
    starts, to_status, kind = DECISIONS[action]
    code, reason = body.get("reason_code"), body.get("reason")
    async with pool.acquire() as conn, conn.transaction():
        user = await conn.fetchrow(LOCK, member_id)
        if user is None or user["deleted_at"] is not None:
            raise WriteError(404, f"no member {member_id}")
        if user["status"] not in starts:
            raise WriteError(409, f"cannot {action} a member who is {user['status']}")
        await conn.execute(DECIDE, member_id, to_status)
        await conn.execute(NOTE, uuid.uuid4(), member_id, kind, reason or code or kind, code)
        diff = {
            "status": {"before": user["status"], "after": to_status},
            "reason_code": {"before": None, "after": code},
        }
        await conn.execute(AUDIT, f"member.{kind}", str(member_id), _json(diff), None)
        payload = {"member_id": str(member_id), "status": to_status, "previous_status": user["status"]}
        await conn.execute(OUTBOX, f"member.{kind}", _json({**payload, "reason_code": code, "reason": reason}))
        return await _detail(conn, member_id)


async def update(pool: asyncpg.Pool, member_id: uuid.UUID, if_match: str, body: dict[str, Any]) -> dict[str, Any]:
    expected = int(if_match.strip().removeprefix("W/").strip('"')) if if_match else None
    async with pool.acquire() as conn, conn.transaction():
        user = await conn.fetchrow(LOCK, member_id)
        if user is None or user["deleted_at"] is not None:
            raise WriteError(404, f"no member {member_id}")
        if expected is not None and user["version"] != expected:
            raise WriteError(412, f"version {user['version']}, not {expected}")
        await conn.execute(RENAME, member_id, body["name"])
        diff = {"name": {"before": user["name"], "after": body["name"]}}
        await conn.execute(AUDIT, "member.updated", str(member_id), _json(diff), None)
        return await _detail(conn, member_id)


async def create(pool: asyncpg.Pool, body: dict[str, Any]) -> dict[str, Any]:
    phone = body["phone"]
    digest = hmac.new(PHONE_KEY, phone.encode(), hashlib.sha256).hexdigest()
    profile = body.get("profile") or {}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(PHONE_LOCK, digest)
        if await conn.fetchval(PHONE_BLOCKED, digest) is not None:
            raise WriteError(409, "phone blocked")
        if await conn.fetchval(PHONE_OWNER, phone) is not None:
            raise WriteError(409, "phone taken")
        member_id = uuid.uuid4()
        user = await conn.fetchrow(
            CREATE, member_id, phone, body["name"], body["gender"], body["birth_year"], body.get("status", "pending")
        )
        assert user is not None
        fields = ("height_cm", "education", "job", "region", "bio")
        await conn.execute(PROFILE, member_id, *(profile.get(name) for name in fields))
        diff = {key: {"before": None, "after": user[key]} for key in ("phone", "name", "gender", "birth_year")}
        diff |= {f"profile.{key}": {"before": None, "after": value} for key, value in profile.items()}
        await conn.execute(AUDIT, "member.created", str(member_id), _json(diff), None)
        return await _detail(conn, member_id)


async def add_note(pool: asyncpg.Pool, member_id: uuid.UUID, body: dict[str, Any]) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchrow(LIVE_MEMBER, member_id) is None:
            raise WriteError(404, f"no member {member_id}")
        note = await conn.fetchrow(NOTE_RETURNING, uuid.uuid4(), member_id, "note", body["content"], None)
        assert note is not None
        diff = {"note": {"before": None, "after": str(note["id"])}}
        await conn.execute(AUDIT, "member.note_added", str(member_id), _json(diff), None)
        return dict(note)


async def route(pool: asyncpg.Pool, method: str, parts: list[str], headers: dict[str, str], body: bytes) -> Any:
    """Dispatch /w/...: (status, answer)."""
    data = orjson.loads(body) if body else {}
    if method == "POST" and parts == ["w", "members"]:
        return 201, await create(pool, data)
    if len(parts) < 3 or parts[:2] != ["w", "members"]:
        raise WriteError(404, "no such write")
    member_id = uuid.UUID(parts[2])
    if method == "PATCH" and len(parts) == 3:
        return 200, await update(pool, member_id, headers.get("if-match", ""), data)
    if method == "POST" and len(parts) == 4 and parts[3] in DECISIONS:
        return 200, await decide(pool, member_id, parts[3], data)
    if method == "POST" and len(parts) == 4 and parts[3] == "notes":
        return 201, await add_note(pool, member_id, data)
    raise WriteError(404, "no such write")
