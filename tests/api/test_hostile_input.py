"""Hostile input: oversized bodies, fields a client may not set, CORS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from backend.infrastructure.settings import Settings
from backend.main import create_app
from tests.conftest import OPERATOR_PASSWORD, api_client

OPERATORS = "/api/v1/admin/operators"


async def test_a_body_over_the_limit_is_413(admin: httpx.AsyncClient, settings: Settings) -> None:
    body = b'{"name": "' + b"x" * settings.max_body_bytes + b'"}'
    response = await admin.post(OPERATORS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_chunked_body_over_the_limit_is_413(admin: httpx.AsyncClient, settings: Settings) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    response = await admin.post(OPERATORS, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_fields_a_client_may_not_set_are_refused(admin: httpx.AsyncClient) -> None:
    for forbidden in ({"id": str(uuid.uuid4())}, {"password_hash": "x"}, {"created_at": "2020-01-01T00:00:00Z"}):
        body = {
            "email": f"f-{uuid.uuid4().hex[:8]}@memberdesk.test",
            "name": "F",
            "role": "viewer",
            "password": OPERATOR_PASSWORD,
            **forbidden,
        }
        response = await admin.post(OPERATORS, json=body)
        assert response.status_code == 422, response.text
        assert [e["loc"][-1] for e in response.json()["errors"]] == list(forbidden)


async def test_cors_allows_configured_origins_and_exposes_list_headers(
    settings: Settings, admin: httpx.AsyncClient
) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"cors_origins": ["https://admin.example"]}))
    async with app.router.lifespan_context(app), api_client(app) as c:
        preflight = await c.options(
            "/api/v1/admin/members",
            headers={"Origin": "https://admin.example", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://admin.example"
        other = await c.options(
            "/api/v1/admin/members", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in other.headers
        listed = await c.get(
            "/api/v1/admin/members",
            headers={"Origin": "https://admin.example", "Authorization": admin.headers["Authorization"]},
        )
        exposed = {h.strip() for h in listed.headers["access-control-expose-headers"].split(",")}
        assert {"X-Total-Count", "Content-Range", "Link"} <= exposed
