"""Readiness report."""

from __future__ import annotations

from typing import Literal

from backend.domain.schemas import ReadSchema


class Check(ReadSchema):
    name: str
    status: Literal["ok", "down"]
    error: str | None = None


class ReplicaCheck(Check):
    lag_seconds: float | None = None
    lag_bytes: int | None = None


class Readiness(ReadSchema):
    """`ready` is false when the primary or the bucket is down; a down replica only degrades reads."""

    status: Literal["ready", "degraded", "unavailable"]
    primary: Check
    replicas: list[ReplicaCheck]
    storage: Check
