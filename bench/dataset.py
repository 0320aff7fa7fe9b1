"""The bench database: migrations, the 1M-member seed (once), VACUUM ANALYZE, and what the load draws from it."""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import asyncpg

from backend.domain.dashboard.repository import COUNTED_MEMBER_COUNTS
from backend.infrastructure.progress import Progress
from bench.config import PROJECT_ROOT
from devtools.seed import SEEDED_TABLES
from devtools.services import ServiceUrls

LIST_FILTER = {"status": "active", "gender": "female"}
PLAN_FILTER = "premium"
DEEP_SKIP_ROWS = 20_000
"""Deep pages start at least this many rows into the filtered list (a tenth of it on a small database)."""


QUEUE_FILTER = "status=pending"
"""The photo queue as moderators open it: pending photos of live members, oldest first."""
_QUEUE_ROWS = (
    "FROM user_photos p JOIN users u ON u.id = p.user_id"
    " WHERE p.status = 'pending' AND p.deleted_at IS NULL AND u.deleted_at IS NULL"
)
QUEUE_TRUTH = f"SELECT count(*) {_QUEUE_ROWS}"
# Positions past the first DEEP_SKIP_ROWS of the queue ($1), sampled across the rest of it.
QUEUE_DEEP = f"""
    SELECT created_at, id FROM (
        SELECT p.created_at, p.id, row_number() OVER (ORDER BY p.created_at, p.id) AS n {_QUEUE_ROWS}
    ) q WHERE n > $1 AND n % 97 = 0 LIMIT 500
"""


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy asyncpg URL as a plain asyncpg DSN."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def memberdesk_command() -> str:
    """The `memberdesk` console script of this virtualenv."""
    return str(Path(sys.executable).with_name("memberdesk"))


@dataclass(frozen=True)
class SeedInfo:
    """Whether this run seeded, and the seed time (this run's, or the one recorded by the run that seeded)."""

    members: int
    seeded_now: bool
    seconds: float | None
    when: str | None
    seeded: int = 0
    """How many members the timed seed loaded."""


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date


@dataclass
class Samples:
    """Inputs for the load (random ids, search terms, deep positions) and ground truth for the exactness checks."""

    member_ids: list[str]
    q_terms: list[str]
    deep_after: list[tuple[datetime, uuid.UUID]]
    day_range: DayRange
    truth: dict[str, int] = field(default_factory=dict)
    dashboard_truth: dict[str, int] = field(default_factory=dict)
    queue_after: list[tuple[datetime, uuid.UUID]] = field(default_factory=list)
    """Positions deep in the pending photo queue (oldest first), for its deep cursor pages."""


def run_seed(env: Mapping[str, str], members: int) -> float:
    """`memberdesk seed --members N` with the service env; its output is shown; returns the seed's own time."""
    print(f"Seeding {members:,} members (memberdesk seed) ...", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [memberdesk_command(), "seed", "--members", str(members)],
        env={**env, "PYTHONUNBUFFERED": "1"},
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    reported: float | None = None
    try:
        for line in proc.stdout:
            print(f"  seed | {line.rstrip()}", flush=True)
            match = re.search(r" in ([0-9.]+) s", line)
            if match:
                reported = float(match.group(1))
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise RuntimeError(f"memberdesk seed exited with status {code}")
    return reported if reported is not None else time.perf_counter() - started


async def count_users(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM users"))
    finally:
        await conn.close()


INDEX_ONLY_TABLES = (*SEEDED_TABLES, "member_name_terms", "member_phone_terms")
"""The member tables and the search terms (a search's index-only scans need their pages all-visible)."""


async def vacuum_analyze(superuser_dsn: str) -> float:
    """VACUUM ANALYZE every table (hint bits, visibility map, statistics), then a CHECKPOINT.

    The member tables one by one, with progress in megabytes of table, then the rest in one statement.
    """
    started = time.perf_counter()
    conn = await asyncpg.connect(superuser_dsn)
    try:
        await conn.execute("SET statement_timeout = 0")
        sizes = await conn.fetch(
            "SELECT relname, pg_table_size(oid) / 1000000 AS mb FROM pg_class"
            " WHERE relname = ANY($1) AND relkind = 'r'",
            list(INDEX_ONLY_TABLES),
        )
        with Progress("VACUUM ANALYZE", sum(row["mb"] for row in sizes), unit="MB", stream=sys.stdout) as progress:
            for row in sizes:
                await conn.execute(f"VACUUM (ANALYZE) {row['relname']}")
                progress.advance(row["mb"])
        await conn.execute("VACUUM (ANALYZE)")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return time.perf_counter() - started


COUNTER_TABLES = ("member_counts", "member_totals", "moderation_counts", "queue_counts", "signup_hours")
"""The trigger-kept counters: a few thousand rows, each updated by every write that moves a member or an item."""


async def vacuum_counters(superuser_dsn: str) -> float:
    """VACUUM the counter tables, so that every run's reads start from counters as autovacuum keeps them.

    The previous run's write loads leave their dead rows (queue_counts held 1,471 live rows and 11,841 dead ones
    after a full run; summing one queue's 128 rows then read 4,700 index entries, 0.65 ms instead of 0.23 ms), and
    a stopped cluster runs no autovacuum. A few tens of milliseconds.
    """
    started = time.perf_counter()
    conn = await asyncpg.connect(superuser_dsn)
    try:
        await conn.execute(f"VACUUM {', '.join(COUNTER_TABLES)}")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def all_visible_share(dsn: str) -> float:
    """The lowest share of all-visible pages among the member tables and the search terms (index-only scans need
    them)."""
    conn = await asyncpg.connect(dsn)
    try:
        share = await conn.fetchval(
            "SELECT min(relallvisible::float8 / greatest(relpages, 1)) FROM pg_class WHERE relkind = 'r' "
            "AND relname = ANY($1) AND relpages > 0",
            list(INDEX_ONLY_TABLES),
        )
    finally:
        await conn.close()
    return float(share if share is not None else 1.0)


async def wait_standby_horizon(superuser_dsn: str, timeout: float = 60.0) -> None:
    """Wait until no standby's hot_standby_feedback xmin is older than the primary's oldest running transaction.

    The replica reports its xmin every wal_receiver_status_interval (10 s): until then the primary keeps the
    old horizon, and a VACUUM right after the seed would find none of the seeded pages visible to all.
    """
    conn = await asyncpg.connect(superuser_dsn)
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            held_back = await conn.fetchval(
                """
                SELECT count(*) FROM pg_stat_replication
                WHERE backend_xmin IS NOT NULL
                  AND age(backend_xmin) > age(((pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296)
                                              ::text)::xid)
                """
            )
            if not held_back:
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def wait_replica(primary_dsn: str, replica_dsn: str, timeout: float = 600.0) -> float:
    """Wait until the replica has replayed the primary's current WAL position; returns the seconds waited."""
    started = time.perf_counter()
    primary = await asyncpg.connect(primary_dsn)
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
    finally:
        await primary.close()
    replica = await asyncpg.connect(replica_dsn)
    behind = "SELECT greatest(pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn()), 0)::bigint / 1000000"
    lag = int(await replica.fetchval(behind, target))
    progress = Progress("Replica catching up", lag, unit="MB of WAL", stream=sys.stdout) if lag > 100 else None
    try:
        while True:
            left = int(await replica.fetchval(behind, target))
            if progress is not None:
                progress.update(lag - left)
            caught_up = await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target)
            if caught_up:
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"the replica has not replayed up to {target} after {timeout:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        if progress is not None:
            progress.close()
        await replica.close()


def prepare(urls: ServiceUrls, root: Path, members: int, seed_env: Mapping[str, str]) -> SeedInfo:
    """Migrate, seed up to `members` once, VACUUM ANALYZE after a seed, and wait for the replica."""
    from backend.cli import migrate

    migrate(urls.database_url)
    dsn = asyncpg_dsn(urls.database_url)
    present = asyncio.run(count_users(dsn))
    record = root / "seed.json"
    seeded_now = False
    seconds: float | None = None
    when: str | None = None
    seeded = 0
    if present < members:
        seeded = members - present
        seconds = run_seed(seed_env, seeded)
        seeded_now = True
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        record.write_text(json.dumps({"members": members - present, "seconds": seconds, "when": when}))
        print(f"Seed: {members - present:,} members in {seconds:.1f} s", flush=True)
    else:
        print(f"Seed: {present:,} members already present, not seeding", flush=True)
        try:
            previous = json.loads(record.read_text())
            seconds, when = float(previous["seconds"]), str(previous["when"])
            seeded = int(previous["members"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    # With hot_standby_feedback a replica still replaying the seed holds back the horizon: VACUUM would find
    # nothing all-visible. Wait for it first, vacuum while any table is less than 95% all-visible, then again.
    replica_dsn, superuser_dsn = asyncpg_dsn(urls.replica_urls[0]), asyncpg_dsn(urls.superuser_database_url)
    asyncio.run(wait_replica(dsn, replica_dsn))
    for attempt in range(3):
        visible = asyncio.run(all_visible_share(dsn))
        if visible >= 0.95 and not (seeded_now and attempt == 0):
            break
        print(f"VACUUM ANALYZE (all-visible pages: {visible:.0%}) ...", flush=True)
        asyncio.run(wait_standby_horizon(superuser_dsn))
        took = asyncio.run(vacuum_analyze(superuser_dsn))
        print(f"VACUUM ANALYZE + CHECKPOINT: {took:.1f} s", flush=True)
        asyncio.run(wait_replica(dsn, replica_dsn))
    asyncio.run(wait_standby_horizon(superuser_dsn))
    print(f"VACUUM of the counter tables: {asyncio.run(vacuum_counters(superuser_dsn)):.2f} s", flush=True)
    waited = asyncio.run(wait_replica(dsn, replica_dsn))
    print(f"Replica caught up ({waited:.1f} s)", flush=True)
    return SeedInfo(members=max(present, members), seeded_now=seeded_now, seconds=seconds, when=when, seeded=seeded)


def _q_terms(rows: list[asyncpg.Record], rng: random.Random) -> list[str]:
    """Search terms an operator would type: a full name, one part of a name, or seven phone digits."""
    terms = []
    for row in rows:
        name, phone = str(row["name"]), str(row["phone"])
        kind = rng.randrange(3)
        if kind == 0:
            terms.append(name.lower())
        elif kind == 1:
            terms.append(max(name.split(), key=len).lower())
        else:
            terms.append(phone[-8:-1])
    return terms


def _day_start(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=UTC)


def dashboard_thresholds(now: datetime | None = None) -> dict[str, datetime]:
    """The starts of the 30 and the 7 days up to now, and of today in UTC (the app runs with ADMIN_TIMEZONE=UTC)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "month_start": moment - timedelta(days=30),
        "week_start": moment - timedelta(days=7),
        "today_start": _day_start(moment.date()),
    }


async def dashboard_truth(dsn: str) -> dict[str, int]:
    """The seven headline counts as of now, counted from the rows (the windows roll: drawn just before a check)."""
    conn = await asyncpg.connect(dsn)
    try:
        bounds = dashboard_thresholds()
        counts = await conn.fetchrow(
            COUNTED_MEMBER_COUNTS, bounds["month_start"], bounds["week_start"], bounds["today_start"]
        )
    finally:
        await conn.close()
    return {key: int(value) for key, value in dict(counts or {}).items()}


async def draw_samples(dsn: str, rng_seed: int = 6) -> Samples:
    """Random live member ids, q terms and deep list positions, plus exact counts to check the app against."""
    rng = random.Random(rng_seed)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT setseed(0.6)")
        ids = await conn.fetch(
            "SELECT id FROM users TABLESAMPLE BERNOULLI (0.3) REPEATABLE (6) WHERE deleted_at IS NULL LIMIT 2000"
        )
        people = await conn.fetch(
            "SELECT name, phone FROM users TABLESAMPLE BERNOULLI (0.05) REPEATABLE (7) "
            "WHERE deleted_at IS NULL LIMIT 400"
        )
        status, gender = LIST_FILTER["status"], LIST_FILTER["gender"]
        filtered = await conn.fetchval(
            "SELECT count(*) FROM users WHERE deleted_at IS NULL AND status = $1 AND gender = $2", status, gender
        )
        deep = await conn.fetch(
            """
            SELECT created_at, id FROM users TABLESAMPLE BERNOULLI (1) REPEATABLE (8)
            WHERE deleted_at IS NULL AND status = $1 AND gender = $2
              AND created_at < (SELECT created_at FROM users WHERE deleted_at IS NULL AND status = $1 AND gender = $2
                                ORDER BY created_at DESC, id DESC OFFSET $3 LIMIT 1)
            LIMIT 500
            """,
            status,
            gender,
            min(DEEP_SKIP_ROWS, int(filtered) // 10),
        )
        today = datetime.now(UTC).date()
        day_range = DayRange(first=today - timedelta(days=120), last=today - timedelta(days=91))
        truth = {
            "list": filtered,
            "plan": await conn.fetchval(
                "SELECT count(*) FROM users u WHERE u.deleted_at IS NULL AND EXISTS (SELECT 1 FROM user_subscriptions"
                " s WHERE s.id = u.id AND s.status = 'active' AND s.plan = $1)",
                PLAN_FILTER,
            ),
            "range": await conn.fetchval(
                "SELECT count(*) FROM users WHERE deleted_at IS NULL AND created_at >= $1 AND created_at < $2",
                _day_start(day_range.first),
                _day_start(day_range.last + timedelta(days=1)),
            ),
        }
        truth["photo_queue"] = await conn.fetchval(QUEUE_TRUTH)
        queue_deep = await conn.fetch(QUEUE_DEEP, min(DEEP_SKIP_ROWS, int(truth["photo_queue"]) // 10))
        bounds = dashboard_thresholds()
        counts = await conn.fetchrow(
            COUNTED_MEMBER_COUNTS, bounds["month_start"], bounds["week_start"], bounds["today_start"]
        )
    finally:
        await conn.close()
    if not ids or not deep:
        raise RuntimeError("the bench database has no members to draw from")
    dashboard: dict[str, Any] = dict(counts) if counts is not None else {}
    return Samples(
        member_ids=[str(row["id"]) for row in ids],
        q_terms=_q_terms(list(people), rng),
        deep_after=[(row["created_at"], row["id"]) for row in deep],
        day_range=day_range,
        truth={key: int(value) for key, value in truth.items()},
        dashboard_truth={key: int(value) for key, value in dashboard.items()},
        queue_after=[(row["created_at"], row["id"]) for row in queue_deep],
    )
