"""The console's files at /console (cache rules, client routes, no way out of its folder) and /docs offline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from backend.infrastructure.settings import Settings
from tests.api.test_auth import app_with
from tests.conftest import api_client


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A console build as Vite lays it out (the real one is checked in the browser tests)."""
    root = tmp_path_factory.mktemp("console")
    (root / "assets").mkdir()
    (root / "assets" / "index-abc123.js").write_text("console.log('hi')")
    (root / "index.html").write_text("<!doctype html><title>Memberdesk console</title>")
    (root / "swagger-ui").mkdir()
    (root / "swagger-ui" / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = 1")
    (root.parent / "secret.txt").write_text("outside the console")
    return root


@pytest.fixture(scope="module")
async def console(settings: Settings, built: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_with(settings, console_dir=built) as app, api_client(app) as client:
        yield client


class TestConsoleFiles:
    async def test_the_root_redirects_to_the_console(self, console: httpx.AsyncClient) -> None:
        for path in ("/", "/console"):
            response = await console.get(path)
            assert response.status_code == 307
            assert response.headers["location"] == "/console/"

    async def test_index_is_never_cached_and_carries_a_content_security_policy(
        self, console: httpx.AsyncClient, settings: Settings
    ) -> None:
        response = await console.get("/console/")
        assert response.status_code == 200
        assert "Memberdesk console" in response.text
        assert response.headers["cache-control"] == "no-cache"
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert str(settings.s3_endpoint_url).rstrip("/") in policy  # photos and uploads reach the bucket

    async def test_hashed_assets_are_cached_for_a_year(self, console: httpx.AsyncClient) -> None:
        response = await console.get("/console/assets/index-abc123.js")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "javascript" in response.headers["content-type"]
        assert response.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize("route", ["/console/members", "/console/members/3f1c/show/photos", "/console/login"])
    async def test_client_routes_get_the_index(self, console: httpx.AsyncClient, route: str) -> None:
        response = await console.get(route)
        assert response.status_code == 200
        assert "Memberdesk console" in response.text

    @pytest.mark.parametrize(
        "path",
        ["/console/assets/gone-123.js", "/console/favicon.ico", "/console/../secret.txt", "/console/%2e%2e/secret.txt"],
    )
    async def test_missing_files_are_404_and_nothing_outside_is_served(
        self, console: httpx.AsyncClient, path: str
    ) -> None:
        response = await console.get(path)
        assert "outside the console" not in response.text
        assert response.status_code in (200, 404)
        if response.status_code == 200:  # a client route, normalised: the index, never the file
            assert "Memberdesk console" in response.text

    async def test_an_unbuilt_console_says_how_to_build_it(self, settings: Settings, tmp_path: Path) -> None:
        async with app_with(settings, console_dir=tmp_path) as app, api_client(app) as client:
            response = await client.get("/console/")
        assert response.status_code == 404
        assert "make console" in response.json()["detail"]


class TestDocs:
    async def test_swagger_ui_loads_from_this_server(self, console: httpx.AsyncClient) -> None:
        page = await console.get("/docs")
        assert page.status_code == 200
        assert "/console/swagger-ui/swagger-ui-bundle.js" in page.text
        assert "cdn" not in page.text.lower()
        assert (await console.get("/console/swagger-ui/swagger-ui-bundle.js")).status_code == 200

    async def test_redoc_which_needs_a_cdn_is_not_served(self, app: FastAPI, anon: httpx.AsyncClient) -> None:
        assert (await anon.get("/redoc")).status_code == 404
