"""The dashboard."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import DashboardServiceDep
from backend.domain.dashboard.schemas import DashboardStats

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


@router.get("/stats", summary="Dashboard figures")
async def dashboard_stats(service: DashboardServiceDep) -> DashboardStats:
    """Exact member counts in one query, plus sections that degrade alone (named in `degraded`)."""
    return await service.stats()
