"""Readiness: the primary, each replica with its lag, and the bucket, checked concurrently with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from backend.domain.health import repository
from backend.domain.health.schemas import Check, Readiness, ReplicaCheck
from backend.infrastructure.database import Database
from backend.infrastructure.storage import Storage

T = TypeVar("T")
CHECK_TIMEOUT_SECONDS = 2.0


async def _bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, CHECK_TIMEOUT_SECONDS)


def lsn_to_int(lsn: str) -> int:
    """A WAL position `X/Y` (two hex halves) as a byte offset."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__


class HealthService:
    def __init__(self, database: Database, storage: Storage) -> None:
        self.database = database
        self.storage = storage

    async def readiness(self) -> Readiness:
        """Every dependency's state; no check waits longer than the deadline."""
        primary_task = asyncio.ensure_future(_bounded(repository.ping(self.database.primary)))
        replica_tasks = [
            asyncio.ensure_future(_bounded(repository.replica_state(target.engine)))
            for target in self.database.replicas
        ]
        storage_task = asyncio.ensure_future(_bounded(self.storage.check()))
        await asyncio.gather(primary_task, *replica_tasks, storage_task, return_exceptions=True)

        primary_lsn: str | None = None
        if primary_task.exception() is None:
            primary_lsn = primary_task.result()
            primary = Check(name="primary", status="ok")
        else:
            primary = Check(name="primary", status="down", error=_reason(primary_task.exception()))  # type: ignore[arg-type]

        replicas = []
        for target, task in zip(self.database.replicas, replica_tasks, strict=True):
            error = task.exception()
            if error is not None:
                replicas.append(ReplicaCheck(name=target.name, status="down", error=_reason(error)))
                continue
            state = task.result()
            lag_bytes = None
            if primary_lsn and state.replay_lsn:
                lag_bytes = max(0, lsn_to_int(primary_lsn) - lsn_to_int(state.replay_lsn))
            replicas.append(
                ReplicaCheck(name=target.name, status="ok", lag_seconds=state.lag_seconds, lag_bytes=lag_bytes)
            )

        storage_error = storage_task.exception()
        storage = Check(name="storage", status="ok" if storage_error is None else "down")
        if storage_error is not None:
            storage.error = _reason(storage_error)

        if primary.status == "down" or storage.status == "down":
            status = "unavailable"
        elif any(r.status == "down" for r in replicas):
            status = "degraded"
        else:
            status = "ready"
        return Readiness(status=status, primary=primary, replicas=replicas, storage=storage)
