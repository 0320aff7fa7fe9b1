"""Who may scrape /metrics: viewers and API keys; without credentials only the networks a setting names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from backend.infrastructure.settings import Settings
from backend.main import create_app
from tests.conftest import api_client  # its requests come from 203.0.113.7

METRICS = "/metrics"


@pytest.fixture
async def started(settings: Settings) -> AsyncIterator[Callable[..., Awaitable[FastAPI]]]:
    """Starts apps with some settings changed; each is stopped at the end."""
    running: list[AbstractAsyncContextManager[Any]] = []

    async def start(**changes: Any) -> FastAPI:
        app = create_app(settings.model_copy(update=changes))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        running.append(lifespan)
        return app

    try:
        yield start
    finally:
        for lifespan in reversed(running):
            await lifespan.__aexit__(None, None, None)


class TestMetricsAccess:
    async def test_without_credentials_it_is_401(self, anon: httpx.AsyncClient) -> None:
        response = await anon.get(METRICS)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_a_viewer_or_an_api_key_may_scrape(
        self, client: httpx.AsyncClient, admin: httpx.AsyncClient, anon: httpx.AsyncClient
    ) -> None:
        assert (await client.get(METRICS)).status_code == 200
        created = await admin.post("/api/v1/admin/api-keys", json={"name": "prometheus", "role": "viewer"})
        key = created.json()
        try:
            scraped = await anon.get(METRICS, headers={"Authorization": f"Bearer {key['key']}"})
            assert scraped.status_code == 200
            assert "memberdesk_request_seconds" in scraped.text
        finally:
            await admin.delete(f"/api/v1/admin/api-keys/{key['id']}")

    async def test_a_scraper_network_needs_no_credentials_and_others_still_do(
        self, started: Callable[..., Awaitable[FastAPI]]
    ) -> None:
        app = await started(metrics_allowed_networks=[ip_network("203.0.113.0/24")])
        async with api_client(app) as inside:
            assert (await inside.get(METRICS)).status_code == 200
        elsewhere = await started(metrics_allowed_networks=[ip_network("198.51.100.0/24"), ip_network("2001:db8::/32")])
        async with api_client(elsewhere) as outside:
            assert (await outside.get(METRICS)).status_code == 401

    async def test_metrics_public_opens_it_to_everyone(self, started: Callable[..., Awaitable[FastAPI]]) -> None:
        app = await started(metrics_public=True)
        async with api_client(app) as c:
            assert (await c.get(METRICS)).status_code == 200
