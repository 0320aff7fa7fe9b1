"""Version 1 of the HTTP API."""

from fastapi import APIRouter, Depends, FastAPI

from backend.api.deps import require
from backend.api.problems import PROBLEM_RESPONSES
from backend.api.v1.routers import (
    audit,
    auth,
    dashboard,
    documents,
    health,
    members,
    metrics,
    operators,
    outbox,
    photos,
    privacy,
    reasons,
    reports,
    reviews,
)
from backend.domain.identity import Role

API_PREFIX = "/api/v1"
ADMIN_PREFIX = f"{API_PREFIX}/admin"
# Members first: FastAPI tries the included routers in order, and the member list and detail are the hottest.
ADMIN_ROUTERS: tuple[APIRouter, ...] = (
    members.router,
    members.reviews_router,
    dashboard.router,
    operators.router,
    audit.router,
    photos.router,
    documents.router,
    outbox.router,
    reasons.router,
    reviews.router,
    reports.router,
    privacy.router,
)


def include_routes(app: FastAPI) -> None:
    """Every route of the API, each router included once at its full prefix.

    Nesting routers (api -> admin -> members) made FastAPI walk three levels of included routers on every
    request; one level does the same matching for a fraction of the cost.
    """
    app.include_router(auth.router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    # The one guard of every admin route: authenticated, viewer or above. Routes that write ask for more.
    viewer = [Depends(require(Role.viewer))]
    for router in ADMIN_ROUTERS:
        app.include_router(router, prefix=ADMIN_PREFIX, dependencies=viewer, responses=PROBLEM_RESPONSES)
    # Routes open to a reporter key (which no operator guard lets through) declare their role themselves.
    app.include_router(reports.filing_router, prefix=ADMIN_PREFIX, responses=PROBLEM_RESPONSES)
    app.include_router(health.router)
    app.include_router(metrics.router)


__all__ = ["include_routes"]
