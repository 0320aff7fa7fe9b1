"""Every route of the app, walked: no credentials -> 401; each role -> allowed or 403.

A route that is not in ACCESS fails the walk, so a new route cannot ship without a decision about who may
call it.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from backend.domain.identity import ROLE_RANK, Role

PUBLIC = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/"),  # the console: static files, and a redirect to them
    ("GET", "/console"),
    ("GET", "/console/{path:path}"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),  # the refresh cookie is the credential
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
}

ACCESS: dict[tuple[str, str], Role] = {
    ("GET", "/metrics"): Role.viewer,  # or anyone, by METRICS_PUBLIC / METRICS_ALLOWED_NETWORKS
    ("GET", "/api/v1/auth/me"): Role.reporter,  # every credential, the reporter key's too: see allowed()
    ("POST", "/api/v1/auth/password"): Role.viewer,
    ("GET", "/api/v1/admin/members"): Role.viewer,
    ("GET", "/api/v1/admin/members/{member_id}"): Role.viewer,
    ("GET", "/api/v1/admin/members/{member_id}/audit"): Role.viewer,
    ("GET", "/api/v1/admin/members/export.csv"): Role.viewer,
    ("GET", "/api/v1/admin/members/{member_id}/notes"): Role.viewer,
    ("GET", "/api/v1/admin/reviews/pending"): Role.viewer,
    ("POST", "/api/v1/admin/members"): Role.admin,
    ("PATCH", "/api/v1/admin/members/{member_id}"): Role.admin,
    ("PUT", "/api/v1/admin/members/{member_id}"): Role.admin,
    ("DELETE", "/api/v1/admin/members/{member_id}"): Role.admin,
    ("POST", "/api/v1/admin/members/{member_id}/restore"): Role.admin,
    ("POST", "/api/v1/admin/members/{member_id}/approve"): Role.moderator,
    ("POST", "/api/v1/admin/members/{member_id}/reject"): Role.moderator,
    ("POST", "/api/v1/admin/members/{member_id}/suspend"): Role.moderator,
    ("POST", "/api/v1/admin/members/{member_id}/ban"): Role.moderator,
    ("POST", "/api/v1/admin/members/{member_id}/unban"): Role.admin,
    ("POST", "/api/v1/admin/members/bulk"): Role.moderator,
    ("GET", "/api/v1/admin/reason-codes"): Role.viewer,
    ("POST", "/api/v1/admin/members/{member_id}/notes"): Role.moderator,
    ("GET", "/api/v1/admin/dashboard/stats"): Role.viewer,
    ("GET", "/api/v1/admin/audit-log"): Role.viewer,
    ("GET", "/api/v1/admin/operators"): Role.admin,
    ("POST", "/api/v1/admin/operators"): Role.admin,
    ("PATCH", "/api/v1/admin/operators/{operator_id}"): Role.admin,
    ("GET", "/api/v1/admin/api-keys"): Role.admin,
    ("POST", "/api/v1/admin/api-keys"): Role.admin,
    ("DELETE", "/api/v1/admin/api-keys/{key_id}"): Role.admin,
    ("GET", "/api/v1/admin/outbox"): Role.admin,
    ("POST", "/api/v1/admin/outbox/{event_id}/retry"): Role.admin,
    # Photos
    ("POST", "/api/v1/admin/members/{member_id}/photos"): Role.moderator,
    ("POST", "/api/v1/admin/photos/{photo_id}/complete"): Role.moderator,
    ("PATCH", "/api/v1/admin/photos/{photo_id}"): Role.moderator,
    ("DELETE", "/api/v1/admin/photos/{photo_id}"): Role.moderator,
    ("GET", "/api/v1/admin/photos"): Role.viewer,
    ("PATCH", "/api/v1/admin/photos"): Role.moderator,
    # Documents
    ("POST", "/api/v1/admin/members/{member_id}/documents"): Role.moderator,
    ("POST", "/api/v1/admin/documents/{document_id}/complete"): Role.moderator,
    ("PATCH", "/api/v1/admin/documents/{document_id}"): Role.moderator,
    ("DELETE", "/api/v1/admin/documents/{document_id}"): Role.moderator,
    ("GET", "/api/v1/admin/documents"): Role.viewer,
    ("PATCH", "/api/v1/admin/documents"): Role.moderator,
    ("POST", "/api/v1/admin/documents/{document_id}/url"): Role.moderator,
    ("GET", "/api/v1/admin/members/{member_id}/export"): Role.admin,
    ("POST", "/api/v1/admin/members/{member_id}/erase"): Role.admin,
    ("GET", "/api/v1/admin/access-log"): Role.admin,
    # Reviews and reports
    ("POST", "/api/v1/admin/reviews/next"): Role.moderator,
    ("POST", "/api/v1/admin/reviews/release"): Role.moderator,
    ("POST", "/api/v1/admin/reports"): Role.reporter,  # the reporter key, moderators and admins
    ("GET", "/api/v1/admin/reports"): Role.viewer,
    ("PATCH", "/api/v1/admin/reports/{report_id}"): Role.moderator,
    ("GET", "/api/v1/admin/members/{member_id}/reports"): Role.viewer,
}


# Routes every authenticated caller may call, whatever its role: who am I.
EVERY_ROLE = {("GET", "/api/v1/auth/me")}


def allowed(role: Role, minimum: Role, route: tuple[str, str]) -> bool:
    """Whether `role` passes a route whose minimum is `minimum`. Operators climb a ladder; the reporter key
    stands outside it: it files reports (as moderators and admins may) and passes nothing else, not even a
    viewer's read (but it may ask who it is)."""
    if route in EVERY_ROLE:
        return True
    if minimum is Role.reporter:
        return role in (Role.reporter, Role.moderator, Role.admin)
    return role is not Role.reporter and ROLE_RANK[role] >= ROLE_RANK[minimum]


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, through included routers too."""
    routes = sorted(
        (str(method), str(route.path))
        for route in iter_route_contexts(app.routes)
        for method in (getattr(route, "methods", None) or ())
        if method != "HEAD"
    )
    assert len(routes) > len(PUBLIC)
    return routes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    return await client.request(method, concrete(path), json=body, headers=headers)


def test_every_route_has_an_access_decision(app: FastAPI) -> None:
    undecided = [r for r in app_routes(app) if r not in PUBLIC and r not in ACCESS]
    assert undecided == [], f"routes without an entry in ACCESS: {undecided}"
    stale = [r for r in ACCESS if r not in app_routes(app)]
    assert stale == []


async def test_no_credentials_is_401_everywhere_but_public(app: FastAPI, anon: httpx.AsyncClient) -> None:
    for method, path in app_routes(app):
        if (method, path) in PUBLIC:
            continue
        response = await call(anon, method, path, {})
        assert response.status_code == 401, f"{method} {path} answered {response.status_code} without credentials"


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_is_allowed_or_forbidden(
    app: FastAPI, anon: httpx.AsyncClient, tokens: dict[Role, str], role: Role
) -> None:
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    for (method, path), minimum in ACCESS.items():
        response = await call(anon, method, path, headers)
        if allowed(role, minimum, (method, path)):
            assert response.status_code not in (401, 403), f"{role} refused on {method} {path}"
        else:
            assert response.status_code == 403, f"{role} got {response.status_code} on {method} {path}"
            assert response.headers["content-type"] == "application/problem+json"
