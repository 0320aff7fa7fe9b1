"""Version 1 of the HTTP API."""

from fastapi import APIRouter, Depends

from backend.api.deps import require
from backend.api.problems import PROBLEM_RESPONSES
from backend.api.v1.routers import audit, auth, dashboard, health, members, metrics, operators, outbox, photos
from backend.domain.admin.models import Role

# The one guard of every admin route: authenticated, viewer or above. Routes that write ask for more.
admin_router = APIRouter(prefix="/admin", dependencies=[Depends(require(Role.viewer))], responses=PROBLEM_RESPONSES)
admin_router.include_router(members.router)
admin_router.include_router(members.reviews_router)
admin_router.include_router(dashboard.router)
admin_router.include_router(operators.router)
admin_router.include_router(audit.router)
admin_router.include_router(photos.router)
admin_router.include_router(outbox.router)

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(auth.router, responses=PROBLEM_RESPONSES)
api_router.include_router(admin_router)

health_router = APIRouter()
health_router.include_router(health.router)
health_router.include_router(metrics.router)

__all__ = ["api_router", "health_router"]
