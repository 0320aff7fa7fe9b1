"""Replica checks: the replica monitor probes every server each REPLICA_CHECK_INTERVAL_SECONDS for the app's life.

The monitor (infrastructure.replication) holds what the probes found and judges it; the read routing asks it
on every request. This loop only keeps it current.
"""

from __future__ import annotations

import asyncio
import logging

from backend.infrastructure.replication import ReplicaMonitor
from backend.runtime.task import BackgroundTask

logger = logging.getLogger(__name__)


class ReplicaChecks(BackgroundTask):
    """`monitor.check()` now, then every `interval` seconds; a failed check is logged and the next one runs."""

    name = "replica-monitor"

    def __init__(self, monitor: ReplicaMonitor, interval: float) -> None:
        super().__init__()
        self.monitor = monitor
        self.interval = interval

    async def run(self) -> None:
        while True:
            try:
                await self.monitor.check()
            except Exception:
                logger.exception("replica check failed")
            await asyncio.sleep(self.interval)
