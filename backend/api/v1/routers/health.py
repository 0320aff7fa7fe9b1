"""Liveness and readiness, open to the load balancer without credentials."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Response

from backend.api.deps import HealthServiceDep
from backend.domain.health.schemas import Readiness

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="The process answers")
async def live() -> dict[str, str]:
    """Always ok while the event loop runs."""
    return {"status": "ok"}


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}}, summary="Dependencies answer")
async def ready(service: HealthServiceDep) -> Response:
    """The primary, each replica with its lag, and the bucket; 503 when the primary or the bucket is down."""
    readiness = await service.readiness()
    status = 503 if readiness.status == "unavailable" else 200
    return Response(orjson.dumps(readiness.model_dump(mode="json")), status_code=status, media_type="application/json")
