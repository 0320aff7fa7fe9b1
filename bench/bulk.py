"""Issue 13's bulk figure: POST /admin/members/bulk approving 500 pending members, timed end to end.

Each run approves 500 members that are pending on the primary (each in a transaction of its own, with its note,
audit row and outbox event), checks that all 500 came back `ok`, and then puts them back to pending and removes the
notes, audit rows and events written meanwhile (bench/writes.py), so that the bench database stays as it was from
one `make bench` to the next (the counters follow by trigger).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
import httpx

from bench import writes

BULK = "/api/v1/admin/members/bulk"
SIZE = 500
RUNS = 3
TARGET_SECONDS = 2.0


@dataclass(frozen=True)
class BulkResult:
    seconds: list[float]
    all_ok: bool
    detail: str

    @property
    def worst(self) -> float:
        return max(self.seconds) if self.seconds else float("inf")

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("inf")


async def _pending(dsn: str, count: int) -> list[uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id FROM users WHERE status = 'pending' AND deleted_at IS NULL"
            " AND (claimed_until IS NULL OR claimed_until < now()) ORDER BY random() LIMIT $1",
            count,
        )
    finally:
        await conn.close()
    return [row["id"] for row in rows]


def measure_bulk(base_url: str, headers: Mapping[str, str], dsn: str, runs: int = RUNS) -> BulkResult:
    """`runs` bulk approvals of SIZE pending members each, each timed from request to answer."""
    ids = asyncio.run(_pending(dsn, SIZE * runs))
    if len(ids) < SIZE * runs:
        return BulkResult([], False, f"only {len(ids):,} pending members to approve")
    restore = writes.start(dsn)
    restore.pending = ids
    seconds: list[float] = []
    timings: list[str] = []
    wrong: list[str] = []
    try:
        with httpx.Client(base_url=base_url, headers=dict(headers), timeout=120.0) as client:
            for run in range(runs):
                batch = ids[run * SIZE : (run + 1) * SIZE]
                started = time.perf_counter()
                response = client.post(BULK, json={"action": "approve", "ids": [str(i) for i in batch]})
                seconds.append(time.perf_counter() - started)
                timings.append(response.headers.get("server-timing", "?"))
                summary = response.json().get("summary", {}) if response.status_code == 200 else {}
                if summary.get("ok") != SIZE:
                    wrong.append(f"run {run + 1}: {response.status_code} {summary or response.text[:200]}")
    finally:
        writes.put_back(dsn, restore)  # pending again, and their notes, audit rows and events gone
    times = ", ".join(f"{s:.2f} s" for s in seconds)
    detail = f"{runs} bulks of {SIZE} approvals: {times}" + (f"; NOT all ok: {'; '.join(wrong)}" if wrong else "")
    print(f"bulk Server-Timing: {' | '.join(timings)}", flush=True)
    return BulkResult(seconds, not wrong, detail)
