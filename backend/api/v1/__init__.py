"""Version 1 of the HTTP API."""

from fastapi import APIRouter

from backend.api.deps import Operator
from backend.api.v1.routers import dashboard, health, members

# Every admin route passes through the one operator guard.
admin_router = APIRouter(prefix="/admin", dependencies=[Operator])
admin_router.include_router(members.router)
admin_router.include_router(dashboard.router)

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(admin_router)

health_router = health.router

__all__ = ["api_router", "health_router"]
