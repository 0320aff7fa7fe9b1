"""Replica health and read routing, after GitLab's database load balancer.

- A monitor probes every replica each REPLICA_CHECK_INTERVAL_SECONDS (a short deadline per probe) for its
  replay position and lag in bytes and time. A replica that is down, not replaying, or past
  REPLICA_MAX_LAG_BYTES / REPLICA_MAX_LAG_SECONDS is skipped until a later probe finds it well again.
- Reads spread over the healthy replicas in turn; with none healthy they go to the primary.
- Read-your-writes: a write answers with its commit's WAL position; a read that presents one goes to a
  replica only if that replica has replayed past it (from the last probe, or a live check), else to the
  primary. The position travels with the client, so it holds across processes and restarts. A position the
  primary has not reached (made up, or from another cluster) is ignored rather than pinning the client's
  reads to the primary: it is compared with the primary's last known position, and when it is ahead of that,
  with the primary's position read after the request arrived (one such read at a time, shared by the requests
  that wait for it).
- A request that loses its replica mid-way marks it down at once (see the API's failover middleware).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)


def lsn_to_int(lsn: str) -> int:
    """A WAL position `X/Y` (two hex halves) as a byte offset."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def int_to_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def parse_lsn(value: str | None) -> int | None:
    """A client-presented position, or None when absent or malformed (a bad value never fails a read).

    Exactly PostgreSQL's form, two groups of 1 to 8 hex digits: int() alone would also take signs, spaces,
    underscores and non-ASCII digits.
    """
    if not value:
        return None
    match = _LSN.fullmatch(value.strip())
    if match is None:
        return None
    return (int(match[1], 16) << 32) | int(match[2], 16)


@dataclass(frozen=True)
class ReplicaState:
    in_recovery: bool
    replay_lsn: int | None
    lag_seconds: float | None  # 0 when everything received is replayed


async def primary_lsn(engine: AsyncEngine) -> int:
    """The primary's current WAL insert position (which also proves it answers)."""
    async with engine.connect() as conn:
        value = (await conn.execute(text("SELECT pg_current_wal_insert_lsn()::text"))).scalar_one()
    return lsn_to_int(str(value))


async def replica_state(engine: AsyncEngine) -> ReplicaState:
    """Whether the server replays WAL, how far, and how far behind in time."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    """
                    SELECT pg_is_in_recovery(),
                           pg_last_wal_replay_lsn()::text,
                           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                                ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
                    """
                )
            )
        ).one()
    return ReplicaState(bool(row[0]), lsn_to_int(row[1]) if row[1] else None, row[2])


@dataclass
class ReplicaHealth:
    """What the last probe found."""

    healthy: bool = True
    replay_lsn: int | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class LagBounds:
    max_bytes: int
    max_seconds: float
    probe_timeout: float


def judge(state: ReplicaState, primary_at: int | None, bounds: LagBounds) -> ReplicaHealth:
    """Healthy when replaying and within both lag bounds."""
    lag_bytes = max(0, primary_at - state.replay_lsn) if primary_at is not None and state.replay_lsn else None
    reasons = []
    if not state.in_recovery:
        reasons.append("not in recovery (promoted?)")
    if lag_bytes is not None and lag_bytes > bounds.max_bytes:
        reasons.append(f"{lag_bytes} bytes behind")
    if state.lag_seconds is not None and state.lag_seconds > bounds.max_seconds:
        reasons.append(f"{state.lag_seconds:.1f} s behind")
    return ReplicaHealth(
        healthy=not reasons,
        replay_lsn=state.replay_lsn,
        lag_bytes=lag_bytes,
        lag_seconds=state.lag_seconds,
        error="; ".join(reasons) or None,
    )


class ReplicaMonitor:
    """Probes the replicas when asked (`check`: every REPLICA_CHECK_INTERVAL_SECONDS while the app runs) and keeps
    their health for the router."""

    def __init__(self, primary: AsyncEngine, replicas: dict[str, AsyncEngine], bounds: LagBounds) -> None:
        self.primary = primary
        self.replicas = replicas
        self.bounds = bounds
        self.health: dict[str, ReplicaHealth] = {name: ReplicaHealth() for name in replicas}
        self.primary_healthy = True
        self.primary_position: int | None = None  # the furthest WAL position the primary was seen at
        self._primary_read: asyncio.Task[int | None] | None = None
        self._primary_read_started = 0.0

    async def probe(self, name: str, primary_at: int | None) -> ReplicaHealth:
        """One replica's health now (down when it does not answer within the deadline).

        Deadlines here are `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow a cancellation
        that arrives as the awaited probe ends, and the replica checks' loop then outlived its stop."""
        try:
            async with asyncio.timeout(self.bounds.probe_timeout):
                state = await replica_state(self.replicas[name])
        except Exception as exc:
            return ReplicaHealth(healthy=False, error=f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__)
        return judge(state, primary_at, self.bounds)

    async def check(self) -> None:
        """Probe every replica once, concurrently, and record what changed."""
        try:
            async with asyncio.timeout(self.bounds.probe_timeout):
                primary_at: int | None = await primary_lsn(self.primary)
            self.primary_healthy = True
            self.saw_primary_at(primary_at)
        except Exception:
            primary_at = None
            self.primary_healthy = False
        names = list(self.replicas)
        results = await asyncio.gather(*(self.probe(name, primary_at) for name in names))
        for name, health in zip(names, results, strict=True):
            self.record(name, health)

    def record(self, name: str, health: ReplicaHealth) -> None:
        was = self.health[name].healthy
        self.health[name] = health
        if was and not health.healthy:
            logger.warning("replica %s taken out of rotation: %s", name, health.error)
        elif not was and health.healthy:
            logger.info("replica %s back in rotation", name)

    def mark_down(self, name: str, reason: str) -> None:
        """Take a replica out at once (a request just lost it); the next probe may bring it back."""
        current = self.health.get(name)
        if current is not None:
            self.record(name, ReplicaHealth(healthy=False, replay_lsn=current.replay_lsn, error=reason))

    def saw_primary_at(self, position: int | None) -> None:
        """The primary was at `position` (a probe, or a commit of this process)."""
        if position is not None and (self.primary_position is None or position > self.primary_position):
            self.primary_position = position

    async def reached_by_primary(self, lsn: int) -> bool:
        """Whether the primary has reached `lsn`, so that a client may have been given it by a commit.

        From the last known position when it is that far; else from the primary's position read after this
        call began (a commit that gave the client `lsn` came before the request, so before that read). While
        the primary is down or does not answer, the position is taken on trust.
        """
        if self.primary_position is not None and lsn <= self.primary_position:
            return True
        if not self.primary_healthy:
            return True  # no answer to wait for: the replicas decide, as before
        position = await self._primary_position_since(time.monotonic())
        return position is None or lsn <= position

    async def _primary_position_since(self, since: float) -> int | None:
        """The primary's position from a read that started at `since` or later, shared by concurrent callers."""
        while True:
            current = self._primary_read
            if current is not None and not current.done() and self._primary_read_started < since:
                await asyncio.wait({current})  # too old for this caller: the next read is
                continue
            if current is None or current.done():
                self._primary_read_started = time.monotonic()
                self._primary_read = current = asyncio.create_task(self._read_primary_position())
            return await asyncio.shield(current)

    async def _read_primary_position(self) -> int | None:
        try:
            async with asyncio.timeout(self.bounds.probe_timeout):
                position = await primary_lsn(self.primary)
        except Exception:
            return None
        self.saw_primary_at(position)
        return position

    def healthy(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.health[name].healthy]

    async def caught_up(self, name: str, lsn: int) -> bool:
        """Whether `name` has replayed `lsn`: from the last probe, else asked live (and remembered)."""
        known = self.health[name].replay_lsn
        if known is not None and known >= lsn:
            return True
        health = await self.probe(name, None)
        if health.replay_lsn is not None:
            current = self.health[name]
            current.replay_lsn = max(current.replay_lsn or 0, health.replay_lsn)
        if not health.healthy and health.error and "behind" not in health.error:
            self.record(name, health)
        return health.replay_lsn is not None and health.replay_lsn >= lsn
