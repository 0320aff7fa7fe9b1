"""Readiness report."""

from __future__ import annotations

from typing import Literal

from backend.domain.schemas import ReadSchema


class Check(ReadSchema):
    name: str
    status: Literal["ok", "down"]
    error: str | None = None


class ReplicaCheck(ReadSchema):
    name: str
    status: Literal["ok", "lagging", "down"]
    error: str | None = None
    lag_seconds: float | None = None
    lag_bytes: int | None = None


class Readiness(ReadSchema):
    """`unavailable` (503) when no database can serve or the bucket is down; `degraded` while the primary or
    a replica is out (reads go on from what is left)."""

    status: Literal["ready", "degraded", "unavailable"]
    primary: Check
    replicas: list[ReplicaCheck]
    storage: Check
