"""Readiness: the primary, each replica with its lag, and the bucket, checked concurrently with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from backend.domain.health.schemas import Check, Readiness, ReplicaCheck
from backend.infrastructure.database import Database
from backend.infrastructure.replication import primary_lsn
from backend.infrastructure.storage import Storage

T = TypeVar("T")
CHECK_TIMEOUT_SECONDS = 2.0


async def _bounded(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):  # not wait_for: on 3.11 it can swallow a cancellation
        return await awaitable


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__


class HealthService:
    def __init__(self, database: Database, storage: Storage) -> None:
        self.database = database
        self.storage = storage

    async def readiness(self) -> Readiness:
        """Every dependency's state now; no check waits longer than the deadline."""
        primary_task = asyncio.ensure_future(_bounded(primary_lsn(self.database.primary)))
        storage_task = asyncio.ensure_future(_bounded(self.storage.check()))
        await asyncio.gather(primary_task, storage_task, return_exceptions=True)

        primary_error = primary_task.exception()
        primary_at = primary_task.result() if primary_error is None else None
        primary = Check(name="primary", status="ok" if primary_error is None else "down")
        if primary_error is not None:
            primary.error = _reason(primary_error)

        monitor = self.database.monitor
        names = [target.name for target in self.database.replicas]
        found = await asyncio.gather(*(monitor.probe(name, primary_at) for name in names))
        replicas = []
        for name, health in zip(names, found, strict=True):
            monitor.record(name, health)
            replicas.append(
                ReplicaCheck(
                    name=name,
                    status="ok" if health.healthy else "lagging" if "behind" in (health.error or "") else "down",
                    error=health.error,
                    lag_seconds=health.lag_seconds,
                    lag_bytes=health.lag_bytes,
                )
            )

        storage_error = storage_task.exception()
        storage = Check(name="storage", status="ok" if storage_error is None else "down")
        if storage_error is not None:
            storage.error = _reason(storage_error)

        # Without the primary the instance still serves reads from a healthy replica: degraded, not unready.
        readable = primary.status == "ok" or any(r.status == "ok" for r in replicas)
        if not readable or storage.status == "down":
            status = "unavailable"
        elif primary.status == "down" or any(r.status != "ok" for r in replicas):
            status = "degraded"
        else:
            status = "ready"
        return Readiness(status=status, primary=primary, replicas=replicas, storage=storage)
