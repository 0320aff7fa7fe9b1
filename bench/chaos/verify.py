"""The end of `make chaos`: nothing lost, nothing written twice, checked in SQL on the primary and at the receiver.

- every create that got a 2xx is one row, and no key made two (the name carries the key);
- every decision that got a 2xx is the member's status, with exactly one audit row and one outbox event;
- every edit that got a 2xx, or a later one whose outcome is unknown, is the member's bio; one audit row each;
- audit rows match the committed writes one to one (no row without a write, no write without a row);
- every outbox event committed during the run was delivered to the receiver (duplicates counted, each under its
  own delivery id), none is pending or dead;
- the trigger-kept counters equal count(*).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
import orjson

from bench.chaos.load import COMMITTED, CREATE_PREFIX, Write
from devtools.counters import kept_and_counted

DECIDED = {"approve": ("active", "member.approved"), "reject": ("rejected", "member.rejected")}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Delivery:
    delivery: str
    event_id: str
    signed: bool
    at: float


def read_deliveries(path: Path) -> list[Delivery]:
    lines = path.read_bytes().splitlines() if path.exists() else []
    found = []
    for line in lines:
        record = orjson.loads(line)
        found.append(Delivery(record["delivery"], record["id"], bool(record["signed"]), float(record["at"])))
    return found


_SCHEDULED = "(status = 'pending' AND attempts = 0 AND next_attempt_at > now())"
"""Events enqueued for later by design: an upload key deleted once more after its form has expired."""
_DUE = f"(status = 'pending' AND NOT {_SCHEDULED})"


async def drain_outbox(dsn: str, since: datetime, timeout: float, say: Callable[[str], None]) -> float:
    """Wait until every event since `since` is delivered (or dead), but those scheduled for later; seconds taken."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            pending = await conn.fetchval(f"SELECT count(*) FROM outbox WHERE created_at >= $1 AND {_DUE}", since)
            if not pending or time.monotonic() - started > timeout:
                return time.monotonic() - started
            say(f"outbox: {pending} events still pending")
            await asyncio.sleep(2)
    finally:
        await conn.close()


async def _creates(conn: asyncpg.Connection, writes: list[Write]) -> Check:
    names = [w.value for w in writes]
    rows = await conn.fetch("SELECT name, count(*) AS n FROM users WHERE name = ANY($1::text[]) GROUP BY name", names)
    found = {r["name"]: int(r["n"]) for r in rows}
    acked = [w for w in writes if w.outcome in COMMITTED]
    lost = sum(1 for w in acked if found.get(w.value, 0) == 0)
    duplicates = sum(n - 1 for n in found.values() if n > 1)
    retried = sum(1 for w in writes if w.attempts > 1)
    detail = (
        f"{len(acked)} acknowledged of {len(writes)} ({retried} retried): {lost} lost, {duplicates} duplicates"
        f", {sum(1 for w in writes if w.outcome == 'unknown')} unanswered"
        f", {sum(1 for w in writes if w.outcome == 'answer lost')} told their answer was lost"
    )
    return Check("creates", lost == 0 and duplicates == 0, detail)


async def _decisions(conn: asyncpg.Connection, writes: list[Write], since: datetime) -> tuple[Check, set[str]]:
    ids = [w.member_id for w in writes]
    status = {
        str(r["id"]): r["status"]
        for r in await conn.fetch("SELECT id, status FROM users WHERE id = ANY($1::uuid[])", ids)
    }
    audits = Counter(
        (r["entity_id"], r["action"])
        for r in await conn.fetch(
            "SELECT entity_id, action FROM audit_log WHERE created_at >= $1 AND entity_id = ANY($2::text[])"
            " AND action IN ('member.approved', 'member.rejected')",
            since,
            ids,
        )
    )
    events = Counter(
        (r["member_id"], r["topic"])
        for r in await conn.fetch(
            "SELECT payload->>'member_id' AS member_id, topic FROM outbox WHERE created_at >= $1"
            " AND payload->>'member_id' = ANY($2::text[]) AND topic IN ('member.approved', 'member.rejected')",
            since,
            ids,
        )
    )
    lost = duplicates = wrong_events = 0
    committed: set[str] = set()
    for w in writes:
        to_status, action = DECIDED[w.value]
        n = audits[(w.member_id, action)]
        if n:
            committed.add(w.member_id)
        if w.outcome in COMMITTED and (status.get(w.member_id) != to_status or n == 0):
            lost += 1
        duplicates += max(0, n - 1)
        wrong_events += int(events[(w.member_id, action)] != n)
    acked = sum(1 for w in writes if w.outcome in COMMITTED)
    retried = sum(1 for w in writes if w.attempts > 1)
    lost_answers = sum(1 for w in writes if w.outcome == "answer lost")
    detail = (
        f"{acked} acknowledged of {len(writes)} ({retried} retried, {lost_answers} told their answer was lost):"
        f" {lost} lost, {duplicates} duplicates,"
        f" {wrong_events} without exactly one event per audit row"
    )
    return Check("decisions", lost == 0 and duplicates == 0 and wrong_events == 0, detail), committed


async def _edits(conn: asyncpg.Connection, writes: list[Write], since: datetime) -> tuple[Check, int]:
    by_member: dict[str, list[Write]] = defaultdict(list)
    for w in writes:
        by_member[w.member_id].append(w)
    bios = {
        str(r["id"]): r["bio"]
        for r in await conn.fetch("SELECT id, bio FROM user_profiles WHERE id = ANY($1::uuid[])", list(by_member))
    }
    rows = await conn.fetch(
        "SELECT changes->'profile.bio'->>'after' AS bio FROM audit_log WHERE created_at >= $1"
        " AND action = 'member.updated'",
        since,
    )
    values = {w.value for w in writes}
    seen = Counter(row["bio"] for row in rows if row["bio"] in values)
    lost = 0
    for member, edits in by_member.items():
        acked = [i for i, w in enumerate(edits) if w.outcome == "acked"]
        allowed = {w.value for w in edits[acked[-1] if acked else 0 :] if w.outcome in ("acked", "unknown")}
        if acked and bios.get(member) not in allowed:
            lost += 1
    lost += sum(1 for w in writes if w.outcome == "acked" and seen[w.value] == 0)
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    refused_written = sum(1 for w in writes if w.outcome.startswith("refused") and seen[w.value])
    acked_n = sum(1 for w in writes if w.outcome == "acked")
    detail = (
        f"{acked_n} acknowledged of {len(writes)} ({sum(1 for w in writes if w.attempts > 1)} retried): {lost} lost,"
        f" {duplicates} written twice, {refused_written} refused but written"
    )
    matched = sum(seen.values())
    return Check("edits (If-Match)", lost == 0 and duplicates == 0 and refused_written == 0, detail), matched


async def _photos(conn: asyncpg.Connection, writes: list[Write], since: datetime) -> Check:
    """Every started upload is a photo, every completed one `pending`, every deleted one deleted; one audit row for
    each of those steps that committed."""
    audited = Counter(
        (r["action"], r["entity_id"])
        for r in await conn.fetch(
            "SELECT action, entity_id FROM audit_log WHERE created_at >= $1 AND entity_type = 'photo'", since
        )
    )
    photos = {
        str(r["id"]): (r["status"], r["deleted_at"] is not None)
        for r in await conn.fetch(
            "SELECT id, status, deleted_at FROM user_photos WHERE id = ANY($1::uuid[])",
            [w.value for w in writes if w.op == "photo" and w.outcome == "acked"],  # the id comes with the answer
        )
    }
    acked = {op: [w for w in writes if w.op == op and w.outcome in COMMITTED] for op in ("complete", "delete")}
    acked["photo"] = [w for w in writes if w.op == "photo" and w.outcome == "acked"]
    deleted = {w.value for w in acked["delete"]}
    lost = sum(1 for w in acked["photo"] if w.value not in photos)
    lost += sum(1 for w in acked["complete"] if photos.get(w.value, ("", False))[0] != "pending")
    lost += sum(1 for photo in deleted if not photos.get(photo, ("", False))[1])
    alive_deleted = sum(1 for photo, (_s, gone) in photos.items() if gone and photo not in deleted)
    unanswered = sum(1 for w in writes if w.outcome == "unknown")
    twice = sum(n - 1 for n in audited.values() if n > 1)
    committed = (
        {("photo.upload_started", p) for p in photos}
        | {("photo.completed", p) for p, (status, _gone) in photos.items() if status == "pending"}
        | {("photo.deleted", p) for p, (_status, gone) in photos.items() if gone}
    )
    unaudited = len(committed - set(audited))
    # A start whose answer was lost (or never came) made a photo whose id the load never learnt.
    unknown_starts = sum(1 for w in writes if w.op == "photo" and w.outcome in ("answer lost", "unknown"))
    strangers = set(audited) - committed
    foreign = len(strangers) - min(unknown_starts, sum(1 for a, _p in strangers if a == "photo.upload_started"))
    detail = (
        f"{len(acked['photo'])} uploads started, {len(acked['complete'])} completed (S3 copy checked),"
        f" {len(deleted)} deleted: {lost} lost, {alive_deleted} deleted unasked, {unanswered} unanswered,"
        f" {unknown_starts} started without learning the photo's id; audit: {twice} twice, {unaudited} missing,"
        f" {foreign} without a write"
    )
    ok = lost == 0 and alive_deleted == 0 and twice == 0 and unaudited == 0 and foreign == 0
    return Check("photos (S3)", ok, detail)


async def _audit(conn: asyncpg.Connection, since: datetime, decided: set[str], edits_audited: int) -> Check:
    """Each created member and each decision has its audit row, and every member.updated row is one of the edits."""
    created = {
        str(r["id"])
        for r in await conn.fetch(
            "SELECT id FROM users WHERE created_at >= $1 AND starts_with(name, $2)", since, CREATE_PREFIX
        )
    }
    audited = Counter(
        (r["action"], r["entity_id"])
        for r in await conn.fetch(
            "SELECT action, entity_id FROM audit_log WHERE created_at >= $1 AND entity_type = 'member'", since
        )
    )
    created_audit = {e for (a, e) in audited if a == "member.created"}
    decided_audit = {e for (a, e) in audited if a in ("member.approved", "member.rejected")}
    other = {a for (a, _e) in audited} - {"member.created", "member.approved", "member.rejected", "member.updated"}
    updated = sum(n for (a, _e), n in audited.items() if a == "member.updated")
    ok = created_audit == created and decided_audit == decided and not other and updated == edits_audited
    detail = (
        f"created {len(created)} rows / {len(created_audit)} audited, decided {len(decided)} /"
        f" {len(decided_audit)} audited, member.updated rows {updated} ({edits_audited} of them the load's edits)"
        + (f", unexpected actions {sorted(other)}" if other else "")
    )
    return Check("audit rows = committed writes", ok, detail)


async def _outbox(conn: asyncpg.Connection, since: datetime, deliveries: list[Delivery]) -> Check:
    rows = await conn.fetch(
        "SELECT id::text AS id, status, payload ? 'action' AS internal,"
        f" {_SCHEDULED} AS scheduled FROM outbox WHERE created_at >= $1",
        since,
    )
    notified = {r["id"] for r in rows if not r["internal"]}
    states = Counter("scheduled" if r["scheduled"] else r["status"] for r in rows)
    deletions = sum(1 for r in rows if r["internal"] and r["status"] == "delivered")
    received = Counter(d.event_id for d in deliveries)
    lost = len(notified - set(received))
    duplicates = sum(n - 1 for n in received.values())
    mismatched = sum(1 for d in deliveries if d.delivery != d.event_id)
    unsigned = sum(1 for d in deliveries if not d.signed)
    ok = lost == 0 and mismatched == 0 and unsigned == 0 and states.get("pending", 0) == 0 and not states.get("dead")
    detail = (
        f"{len(notified)} events committed, {len(set(received) & notified)} delivered: {lost} lost,"
        f" {duplicates} duplicate deliveries ({mismatched} under another delivery id), {unsigned} unsigned,"
        f" {states.get('pending', 0)} pending, {states.get('dead', 0)} dead; S3 deletions: {deletions} done,"
        f" {states.get('scheduled', 0)} scheduled for after their upload forms expire"
    )
    return Check("outbox delivered", ok, detail)


async def _counters(conn: asyncpg.Connection) -> Check:
    figures = await kept_and_counted(conn)
    wrong = [name for name, (kept, counted) in figures.items() if kept != counted]
    members = sum(figures["member_counts"][1].values())
    detail = f"member_counts, member_totals, signup_hours against count(*) over {members:,} members" + (
        f": {', '.join(wrong)} differ" if wrong else ": equal"
    )
    return Check("counters = count(*)", not wrong, detail)


async def verify(dsn: str, since: datetime, writes: list[Write], deliveries: list[Delivery]) -> list[Check]:
    """Every check, on the primary (superuser DSN)."""
    conn = await asyncpg.connect(dsn)
    try:
        creates = await _creates(conn, [w for w in writes if w.op == "create"])
        decisions, decided = await _decisions(conn, [w for w in writes if w.op == "decide"], since)
        edits, edits_audited = await _edits(conn, [w for w in writes if w.op == "edit"], since)
        photos = await _photos(conn, [w for w in writes if w.op in ("photo", "complete", "delete")], since)
        audit = await _audit(conn, since, decided, edits_audited)
        outbox = await _outbox(conn, since, deliveries)
        counters = await _counters(conn)
    finally:
        await conn.close()
    return [creates, decisions, edits, photos, audit, outbox, counters]
