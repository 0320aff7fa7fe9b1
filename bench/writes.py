"""Issue 16's writes: approve, reject, PATCH with If-Match, create with profile and add a note, at 1M members and
full concurrency, each beside the raw baseline running the same statements in one transaction
(bench/baseline_writes.py).

A write changes what it writes to, so every request of a load is a request of its own, sent once
(bench/wrk/writes.lua): the approvals and rejections each take a different pending member, each edit a different
active member with the version it has now in If-Match, each creation a phone of its own. Each server's load draws
its members afresh, and what it changed is put back before the next load (`Restore`): the members' statuses and
names, the members it created deleted, the notes, audit rows and outbox events written since the load began
deleted. The bench database is then as the load found it, for the next row and the next `make bench`.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import orjson

from bench.loadgen import WriteRequest

SCENARIOS = ("approve", "reject", "patch", "create", "note")
LABELS = {
    "approve": "approve (status, note, audit, outbox)",
    "reject": "reject with a reason code",
    "patch": "PATCH with If-Match",
    "create": "create with profile",
    "note": "add a note",
}
APP_PREFIX = "/api/v1/admin/members"
BASELINE_PREFIX = "/w/members"
BENCH_PHONES = "+8299"
"""Phones of members the bench creates (the seed's are +8210...): deleted after each load."""

_PENDING = """
SELECT id FROM users WHERE status = 'pending' AND deleted_at IS NULL
  AND (claimed_until IS NULL OR claimed_until < now()) ORDER BY random() LIMIT $1
"""
_ACTIVE = """
SELECT id, version, name FROM users WHERE status = 'active' AND deleted_at IS NULL
  AND (claimed_until IS NULL OR claimed_until < now()) ORDER BY random() LIMIT $1
"""
_LIVE = "SELECT id FROM users TABLESAMPLE SYSTEM (1) WHERE deleted_at IS NULL LIMIT $1"


@dataclass
class Restore:
    """What one load changed, to be put back once it is over."""

    started: datetime
    audit_after: int
    outbox_after: int
    pending: list[uuid.UUID] = field(default_factory=list)
    names: dict[uuid.UUID, str] = field(default_factory=dict)


async def markers(conn: asyncpg.Connection) -> Restore:
    """Where the tables stand now: what a load writes after this is what `put_back` removes."""
    row = await conn.fetchrow(
        "SELECT now() AS started, (SELECT coalesce(max(id), 0) FROM audit_log) AS audit,"
        " (SELECT coalesce(max(id), 0) FROM outbox) AS outbox"
    )
    assert row is not None
    return Restore(row["started"], row["audit"], row["outbox"])


async def _draw(dsn: str, scenario: str, count: int, prefix: str) -> tuple[list[WriteRequest], Restore]:
    conn = await asyncpg.connect(dsn)
    try:
        restore = await markers(conn)
        if scenario in ("approve", "reject"):
            ids = [row["id"] for row in await conn.fetch(_PENDING, count)]
            restore.pending = ids
            body = b"{}" if scenario == "approve" else b'{"reason_code": "spam"}'
            return [WriteRequest("POST", f"{prefix}/{i}/{scenario}", body=body) for i in ids], restore
        if scenario == "patch":
            rows = await conn.fetch(_ACTIVE, count)
            restore.names = {row["id"]: row["name"] for row in rows}
            return [
                WriteRequest(
                    "PATCH",
                    f"{prefix}/{row['id']}",
                    if_match=f'"{row["version"]}"',
                    body=orjson.dumps({"name": f"{row['name'][:80]} (edited)"}),
                )
                for row in rows
            ], restore
        if scenario == "create":
            start = random.randrange(10_000_000, 90_000_000 - count)
            return [
                WriteRequest("POST", prefix, body=orjson.dumps(_new_member(f"{BENCH_PHONES}{start + n:08d}", n)))
                for n in range(count)
            ], restore
        ids = [row["id"] for row in await conn.fetch(_LIVE, count)]
        bodies = [orjson.dumps({"content": f"Called the member about their profile ({n})."}) for n in range(count)]
        return [WriteRequest("POST", f"{prefix}/{ids[n % len(ids)]}/notes", body=bodies[n]) for n in range(count)], (
            restore
        )
    finally:
        await conn.close()


def _new_member(phone: str, n: int) -> dict[str, object]:
    return {
        "phone": phone,
        "name": f"Bench Member {n}",
        "gender": "female" if n % 2 else "male",
        "birth_year": 1980 + n % 20,
        "profile": {"height_cm": 150 + n % 40, "job": "engineer", "region": "Seoul", "bio": "Likes hiking."},
    }


def draw(dsn: str, scenario: str, count: int, *, app: bool) -> tuple[list[WriteRequest], Restore]:
    """`count` requests of `scenario` for the app or the baseline, and what to put back after them."""
    return asyncio.run(_draw(dsn, scenario, count, APP_PREFIX if app else BASELINE_PREFIX))


async def _restore(dsn: str, restore: Restore) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            if restore.pending:
                await conn.execute(
                    "UPDATE users SET status = 'pending' WHERE id = ANY($1) AND status <> 'pending'", restore.pending
                )
            if restore.names:
                ids, names = list(restore.names), list(restore.names.values())
                await conn.execute(
                    "UPDATE users SET name = v.name FROM unnest($1::uuid[], $2::text[]) AS v(id, name)"
                    " WHERE users.id = v.id",
                    ids,
                    names,
                )
            await conn.execute("DELETE FROM users WHERE phone LIKE $1", f"{BENCH_PHONES}%")
            await conn.execute("DELETE FROM member_notes WHERE created_at >= $1", restore.started)
            await conn.execute("DELETE FROM audit_log WHERE id > $1", restore.audit_after)
            await conn.execute("DELETE FROM outbox WHERE id > $1", restore.outbox_after)
    finally:
        await conn.close()


async def _start(dsn: str) -> Restore:
    conn = await asyncpg.connect(dsn)
    try:
        return await markers(conn)
    finally:
        await conn.close()


def start(dsn: str) -> Restore:
    """Where the tables stand now, for a scenario that writes through the API on its own (the bulk, the outbox)."""
    return asyncio.run(_start(dsn))


def put_back(dsn: str, restore: Restore, *, attempts: int = 5) -> None:
    """Undo what a load wrote (see the module's docstring).

    Tried again after a deadlock: on a loaded machine a request its client gave up on may still be deciding a member
    (its row, then the shared counter rows) while the put-back updates many members (counter rows, then the next
    member's row). Such requests end within their statement timeout, so a later attempt finds the rows free."""
    for attempt in range(1, attempts + 1):
        try:
            asyncio.run(_restore(dsn, restore))
            return
        except asyncpg.exceptions.DeadlockDetectedError:
            if attempt == attempts:
                raise
            print(f"  (putting back what the load wrote hit a deadlock: attempt {attempt + 1})", flush=True)
            time.sleep(2.0 * attempt)
