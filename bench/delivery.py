"""Issue 16's outbox figures: delivery to a local webhook receiver (bench/receiver.py), in events per second, and
from commit to delivery at 200 decisions per second.

- Throughput: EVENTS notifications put in the outbox in one committed transaction; the app's workers (one per
  process, each woken by its sweep) deliver them; the rate is the number delivered over the time from the first
  delivery to the last, so the wait for the next sweep is left out.
- Latency: approvals through the API at DECISION_RATE per second for DECISION_SECONDS, sent on schedule whatever
  the answers take (an open loop, as operators and tools do not wait for each other); each event's latency is its
  arrival at the receiver minus its `created_at`, the start of the transaction that committed it, so the figure
  includes the rest of that transaction too (it is an upper bound of commit to delivery).

Both check at the receiver that every event arrived, and count the ones that arrived twice. What they wrote
(events, and for the approvals the members' statuses, notes and audit rows) is put back after (bench/writes.py).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import asyncpg
import httpx

from bench import writes

EVENTS = 20_000
DECISION_RATE = 200
DECISION_SECONDS = 10
DELIVERY_TIMEOUT = 90.0
RATE_TARGET = 2_000
LATENCY_TARGET_S = 1.0


@dataclass(frozen=True)
class Delivery:
    """What the receiver saw of one measured batch of events."""

    expected: int
    delivered: int
    duplicates: int
    bad_signatures: int
    latencies: list[float]
    span_seconds: float

    @property
    def rate(self) -> float:
        return (self.delivered - 1) / self.span_seconds if self.span_seconds > 0 else 0.0

    def percentile(self, pct: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("inf")
        return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


@dataclass(frozen=True)
class OutboxResult:
    throughput: Delivery
    latency: Delivery
    decisions_sent: int
    decisions_failed: int
    decision_rate: float

    @property
    def rate_ok(self) -> bool:
        t = self.throughput
        return t.delivered == t.expected and t.rate >= RATE_TARGET

    @property
    def latency_ok(self) -> bool:
        lat = self.latency
        return lat.delivered == lat.expected and self.decisions_failed == 0 and lat.percentile(99) < LATENCY_TARGET_S


async def _collect(receiver_url: str, ids: set[str], timeout: float = DELIVERY_TIMEOUT) -> Delivery:
    """Poll the receiver until every id in `ids` arrived (or the timeout), then summarise those deliveries."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=receiver_url, timeout=30.0) as client:
        while True:
            data = (await client.get("/deliveries")).json()
            mine = [d for d in data["deliveries"] if d[0] in ids]
            if len({d[0] for d in mine}) >= len(ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    first: dict[str, tuple[float, float]] = {}
    for delivery_id, created, received in mine:
        if delivery_id not in first or received < first[delivery_id][1]:
            first[delivery_id] = (created, received)
    arrivals = [received for _created, received in first.values()]
    return Delivery(
        expected=len(ids),
        delivered=len(first),
        duplicates=len(mine) - len(first),
        bad_signatures=int(data["bad_signatures"]),
        latencies=[received - created for created, received in first.values()],
        span_seconds=max(arrivals) - min(arrivals) if len(arrivals) > 1 else 0.0,
    )


async def _throughput(dsn: str, receiver_url: str) -> Delivery:
    async with httpx.AsyncClient(base_url=receiver_url) as client:
        await client.post("/reset")
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "INSERT INTO outbox (topic, payload)"
            " SELECT 'bench.delivery', jsonb_build_object('n', n) FROM generate_series(1, $1) AS n RETURNING id",
            EVENTS,
        )
    finally:
        await conn.close()
    return await _collect(receiver_url, {str(row["id"]) for row in rows})


async def _decisions(app_url: str, headers: Mapping[str, str], ids: list[uuid.UUID]) -> tuple[int, float]:
    """Approve each of `ids` at DECISION_RATE per second, on schedule; (failures, rate achieved). On aiohttp: the
    client must keep its schedule on a machine it shares with the app."""
    failures = 0
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(
        base_url=app_url, headers={**headers, "Content-Type": "application/json"}, connector=connector, timeout=timeout
    ) as client:

        async def approve(member_id: uuid.UUID) -> None:
            nonlocal failures
            try:
                async with client.post(f"{writes.APP_PREFIX}/{member_id}/approve", data=b"{}") as response:
                    await response.read()
                    failures += not 200 <= response.status < 300
            except (aiohttp.ClientError, TimeoutError):
                failures += 1

        started = time.monotonic()
        tasks = []
        for n, member_id in enumerate(ids):
            await asyncio.sleep(max(0.0, started + n / DECISION_RATE - time.monotonic()))
            tasks.append(asyncio.create_task(approve(member_id)))
        sent_in = time.monotonic() - started
        await asyncio.gather(*tasks)
    return failures, len(ids) / sent_in if sent_in > 0 else 0.0


async def _latency(
    dsn: str, app_url: str, headers: Mapping[str, str], receiver_url: str
) -> tuple[Delivery, int, float]:
    async with httpx.AsyncClient(base_url=receiver_url) as client:
        await client.post("/reset")
    conn = await asyncpg.connect(dsn)
    try:
        marker = await conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
    finally:
        await conn.close()
    requests, restore = await asyncio.to_thread(writes.draw, dsn, "approve", DECISION_RATE * DECISION_SECONDS, app=True)
    ids = [uuid.UUID(request.path.rsplit("/", 2)[-2]) for request in requests]
    try:
        failures, rate = await _decisions(app_url, headers, ids)
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT id FROM outbox WHERE id > $1 AND topic = 'member.approved' AND payload->>'member_id' = ANY($2)",
                marker,
                [str(i) for i in ids],
            )
        finally:
            await conn.close()
        delivery = await _collect(receiver_url, {str(row["id"]) for row in rows})
    finally:
        await asyncio.to_thread(writes.put_back, dsn, restore)
    return delivery, failures, rate


def measure(dsn: str, app_url: str, headers: Mapping[str, str], receiver_url: str) -> OutboxResult:
    """Both outbox figures; the events and decisions they made are removed afterwards."""
    restore = writes.start(dsn)
    try:
        throughput = asyncio.run(_throughput(dsn, receiver_url))
    finally:
        writes.put_back(dsn, restore)
    latency, failures, rate = asyncio.run(_latency(dsn, app_url, headers, receiver_url))
    return OutboxResult(throughput, latency, DECISION_RATE * DECISION_SECONDS, failures, rate)


def describe(result: OutboxResult) -> tuple[str, str]:
    """The two figures as the report states them."""
    t, lat = result.throughput, result.latency
    rate = (
        f"{t.rate:,.0f} events/s ({t.delivered:,} of {t.expected:,} delivered in {t.span_seconds:.1f} s from the "
        f"first to the last; {t.duplicates} twice; {t.bad_signatures} bad signatures)"
    )
    median = statistics.median(lat.latencies) if lat.latencies else float("inf")
    latency = (
        f"p50 {median * 1000:.0f} ms, p99 {lat.percentile(99) * 1000:.0f} ms, max "
        f"{max(lat.latencies, default=float('inf')) * 1000:.0f} ms over {lat.delivered:,} of {lat.expected:,} events "
        f"({result.decisions_sent:,} approvals sent at {result.decision_rate:.0f}/s, {result.decisions_failed} failed; "
        f"{lat.duplicates} delivered twice)"
    )
    return rate, latency
