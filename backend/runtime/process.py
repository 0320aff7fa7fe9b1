"""Everything one API process runs in the background, started and stopped together by the app's lifespan."""

from __future__ import annotations

from backend.infrastructure.database import Database
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage
from backend.runtime.housekeeping import Housekeeper
from backend.runtime.outbox import OutboxWorker
from backend.runtime.replicas import ReplicaChecks
from backend.runtime.task import BackgroundTask


class BackgroundWork:
    """The replica checks, the outbox worker and the housekeeper of one process.

    Stopped before the database engines are disposed of and before the S3 client closes (the outbox worker
    deletes objects with it).
    """

    def __init__(self, database: Database, storage: Storage, settings: Settings) -> None:
        self.replica_checks = ReplicaChecks(database.monitor, settings.replica_check_interval_seconds)
        self.outbox = OutboxWorker(database, storage, settings)
        self.housekeeper = Housekeeper(database, storage, settings)
        self._tasks: tuple[BackgroundTask, ...] = (self.replica_checks, self.outbox, self.housekeeper)

    async def start(self) -> None:
        """A first replica check now, so that the first reads are routed on what it found; then every loop."""
        await self.replica_checks.monitor.check()
        for task in self._tasks:
            task.start()

    async def stop(self) -> None:
        """Stop every loop, the last started first."""
        for task in reversed(self._tasks):
            await task.stop()
