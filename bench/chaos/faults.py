"""The faults of `make chaos`, injected one after another under load, each with when it began and ended.

The blocking steps (pg_ctl, weed, PgBouncer) run in threads so that the load and the progress lines go on.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx

from bench.chaos.load import Ledger
from devtools.pgbouncer import PgBouncer
from devtools.services import DevServices


@dataclass
class Window:
    """A fault: `begin` and `end` in seconds into the run (equal for an instant one such as kill -9)."""

    name: str
    label: str
    begin: float
    end: float = 0.0


@dataclass
class Rig:
    """What the faults act on."""

    services: DevServices
    bouncer: PgBouncer
    receiver_url: str
    replica_superuser_dsn: str
    app_pid: int


Phase = Callable[[str], None]


class Injector:
    """Runs the faults in order, `gap` seconds of plain load after each, and keeps their windows."""

    NAMES = (
        "kill-worker",
        "replica-down",
        "replay-paused",
        "pgbouncer-restart",
        "primary-down",
        "s3-down",
        "webhook-500",
        "webhook-silent",
    )

    def __init__(self, rig: Rig, ledger: Ledger, gap: float, announce: Phase) -> None:
        self.rig = rig
        self.ledger = ledger
        self.gap = gap
        self.announce = announce
        self.windows: list[Window] = []

    async def run(self) -> list[Window]:
        # The receiver goes silent right after its 500s: one outage in two manners.
        steps: list[tuple[str, str, Callable[[], Awaitable[None]]]] = [
            ("kill-worker", "kill -9 of an API worker", self.kill_worker),
            ("replica-down", "replica stopped 20 s", self.replica_down),
            ("replay-paused", "replica replay paused 30 s", self.replay_paused),
            ("pgbouncer-restart", "PgBouncer restarted", self.pgbouncer_restart),
            ("primary-down", "primary stopped 20 s, then started", self.primary_down),
            ("s3-down", "S3 stopped 20 s", self.s3_down),
            ("webhook-500", "webhook receiver answering 500 for 30 s", self.webhook_errors),
            ("webhook-silent", "webhook receiver not answering for 10 s", self.webhook_silent),
        ]
        assert tuple(name for name, _label, _step in steps) == self.NAMES
        for name, label, step in steps:
            window = Window(name, label, self.ledger.now())
            self.windows.append(window)
            self.announce(f"fault {name}: {label}")
            await step()
            window.end = self.ledger.now()
            self.announce(f"fault {name} over after {window.end - window.begin:.1f} s")
            if name != "webhook-500":
                await asyncio.sleep(self.gap)
        return self.windows

    async def kill_worker(self) -> None:
        recent = [a.worker for a in self.ledger.attempts[-200:] if a.worker is not None]
        if not recent:
            raise RuntimeError("no answer named its worker (DEBUG_HEADERS): cannot choose one to kill")
        pid = recent[-1]
        if pid == self.rig.app_pid:
            raise RuntimeError("the answer named the supervisor, not a worker")
        os.kill(pid, signal.SIGKILL)
        self.announce(f"killed worker {pid} with SIGKILL")

    async def replica_down(self) -> None:
        await asyncio.to_thread(self.rig.services.stop_replica)
        await asyncio.sleep(20)
        await asyncio.to_thread(self.rig.services.start_replica)

    async def replay_paused(self) -> None:
        conn = await asyncpg.connect(self.rig.replica_superuser_dsn)
        try:
            await conn.execute("SELECT pg_wal_replay_pause()")
            await asyncio.sleep(30)
            await conn.execute("SELECT pg_wal_replay_resume()")
        finally:
            await conn.close()

    async def pgbouncer_restart(self) -> None:
        await asyncio.to_thread(self.rig.bouncer.restart)

    async def primary_down(self) -> None:
        await asyncio.to_thread(self.rig.services.stop_primary)
        await asyncio.sleep(20)
        await asyncio.to_thread(self.rig.services.start_primary)

    async def s3_down(self) -> None:
        await asyncio.to_thread(self.rig.services.stop_s3)
        await asyncio.sleep(20)
        await asyncio.to_thread(self.rig.services.start_s3)

    async def _receiver(self, mode: str) -> None:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.post(f"{self.rig.receiver_url}/_mode", json={"mode": mode})
            response.raise_for_status()

    async def webhook_errors(self) -> None:
        await self._receiver("error")
        await asyncio.sleep(30)
        await self._receiver("ok")

    async def webhook_silent(self) -> None:
        await self._receiver("hang")
        await asyncio.sleep(10)
        await self._receiver("ok")
