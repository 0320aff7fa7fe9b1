"""Browser tests: Debian's Chromium, driven by Playwright, against a real `memberdesk serve` and the built console.

One browser for the session and a fresh context (cookies, storage) per test. The server has a database of its
own (the tests approve, edit and upload), seeded with real photo objects in the suite's S3 server, and short
access tokens (JWT_TTL_SECONDS=60) so that renewal happens within a test.

Every page of every test runs under two rules: nothing is fetched from outside this machine (any request to a
host but 127.0.0.1 is aborted and fails the test: the console and /docs must work offline), and no console
error or page error is left (a test that provokes an error answer, a 412 say, declares its status).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Route, async_playwright, expect

from backend.cli import create_admin
from backend.domain.identity import OPERATOR_ROLES, Role
from backend.infrastructure.settings import Settings
from devtools.services import ServiceUrls
from tests.conftest import asyncpg_dsn, wait_for_replica
from tests.servers import own_database, serve

DATABASE = "memberdesk_browser"
MEMBERS = 120
PASSWORD = "the browser tests' own password"
ACCESS_TTL_SECONDS = 60
# README screenshots: `MEMBERDESK_SCREENSHOTS=docs/screenshots make test` writes them there.
README_SHOTS = os.environ.get("MEMBERDESK_SCREENSHOTS")
_NETWORK_STATUS = re.compile(r"the server responded with a status of (\d{3})")


SECOND_MODERATOR = "moderator2@browser.test"
CLAIMABLE = ("users", "user_photos", "user_documents", "reports")


def email(role: Role) -> str:
    return f"{role.value}@browser.test"


@dataclass(frozen=True)
class ConsoleServer:
    url: str
    database_url: str


@pytest.fixture(scope="session")
async def console_server(
    services: ServiceUrls, settings: Settings, tmp_path_factory: pytest.TempPathFactory, project_root: Path
) -> AsyncIterator[ConsoleServer]:
    """`memberdesk serve` on a database of its own, with an operator per role, serving the built console."""
    if not (project_root / "console" / "dist" / "index.html").is_file():
        pytest.fail("the console is not built: `make test` builds it (or `make console`)")
    own = await own_database(services, settings, DATABASE, members=MEMBERS, rng_seed=11, objects=True)
    for role in OPERATOR_ROLES:
        await create_admin(own, email=email(role), name=f"Browser {role.value}", role=role, password=PASSWORD)
    await create_admin(own, email=SECOND_MODERATOR, name="Browser moderator 2", role=Role.moderator, password=PASSWORD)
    await wait_for_replica(services)
    environment = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": str(own.database_url),
        "DATABASE_REPLICA_URLS": ",".join(str(url) for url in own.database_replica_urls),
        "JWT_SECRET": settings.token_secret(),
        "JWT_TTL_SECONDS": str(ACCESS_TTL_SECONDS),
        "ADMIN_TIMEZONE": settings.admin_timezone,
        "LOG_FORMAT": "console",
        "CONSOLE_DIR": str(project_root / "console" / "dist"),
    }
    with serve(services, tmp_path_factory.mktemp("browser-server") / "server.log", environment) as url:
        yield ConsoleServer(url, str(own.database_url))


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (`make chromium`)")
    async with async_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses to run as root
        launched = await playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser_db(console_server: ConsoleServer) -> AsyncIterator[asyncpg.Connection]:
    """The browser server's primary, for ground truth."""
    conn = await asyncpg.connect(asyncpg_dsn(console_server.database_url))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def no_claims(browser_db: asyncpg.Connection) -> AsyncIterator[None]:
    """No queue item is claimed when the test starts, nor after it (a page closed with its context gives nothing
    back; its claims would hold for REVIEW_CLAIM_SECONDS)."""

    async def release() -> None:
        for table in CLAIMABLE:
            await browser_db.execute(
                f"UPDATE {table} SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL"
            )

    await release()
    yield
    await release()


@dataclass
class Console:
    """A test's page, with what the page rules collected."""

    page: Page
    base: str
    shot_path: Path
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)
    trail: list[str] = field(default_factory=list)

    def expect_status(self, status: int) -> None:
        """The test provokes an answer with this status on purpose (Chromium logs every 4xx/5xx it loads)."""
        self.expected_statuses.add(status)

    async def login(self, role: Role, *, as_email: str | None = None) -> None:
        await self.page.goto(f"{self.base}/console/")
        await self.page.get_by_label("Email").fill(as_email or email(role))
        await self.page.get_by_label("Password").fill(PASSWORD)
        await self.page.get_by_role("button", name="Log in").click()
        await self.page.get_by_role("heading", name="Dashboard", level=1).wait_for()

    async def go(self, route: str) -> None:
        """A client route of the console (hash routing): `/members`, `/members/<id>/show` ..."""
        await self.page.goto(f"{self.base}/console/#{route}")

    async def readme_shot(self, name: str) -> None:
        """A README screenshot, when MEMBERDESK_SCREENSHOTS names where to put them."""
        if README_SHOTS:
            folder = Path(README_SHOTS)
            folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  (a directory, once)
            await self.page.screenshot(path=str(folder / f"{name}.png"))

    async def axe(self, project_root: Path) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is (injected from the console's npm
        modules; evaluated through the DevTools protocol, which the page's CSP does not govern)."""
        # react-admin's spinner in the app bar (an unnamed progressbar) shows while any query runs: check the page
        # at rest.
        await expect(self.page.locator(".app-loader")).to_have_count(0)
        source = (project_root / "console" / "node_modules" / "axe-core" / "axe.min.js").read_text()
        await self.page.evaluate(source)
        found: list[dict[str, Any]] = await self.page.evaluate(
            """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 3).map(n => n.html.slice(0, 300))})))"""
        )
        return found

    def unexpected_errors(self) -> list[str]:
        left = []
        for error in self.errors:
            status = _NETWORK_STATUS.search(error)
            if status is None or int(status.group(1)) not in self.expected_statuses:
                left.append(error)
        return left


@asynccontextmanager
async def open_console(browser: Browser, console_server: ConsoleServer, shot_path: Path) -> AsyncIterator[Console]:
    """A fresh browser context and page under the page rules; checks them as it closes."""
    context = await browser.new_context(base_url=console_server.url, viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    view = Console(page, console_server.url, shot_path)

    async def local_only(route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname in ("127.0.0.1", "localhost") or request.url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            view.outside.append(request.url)
            await route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            view.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    # React reports a render error it recovered from as "Minified React error #520": say what caused it.
    await context.add_init_script(
        "window.addEventListener('error', e => { const c = e.error && e.error.cause;"
        " if (c) console.error('caused by: ' + (c.stack || c)); });"
    )
    await context.route("**/*", local_only)
    page.on("console", on_console)
    page.on("pageerror", lambda error: view.errors.append(f"page error: {error}"))
    page.on(
        "request", lambda r: view.trail.append(f"> {r.method} {r.url}") if "/api/" in r.url or "#" in r.url else None
    )
    page.on("response", lambda r: view.trail.append(f"< {r.status} {r.url}") if "/api/" in r.url else None)
    page.on("framenavigated", lambda f: view.trail.append(f"nav {f.url}"))
    try:
        yield view
    finally:
        await page.screenshot(path=str(view.shot_path), full_page=True)
        await context.close()
    assert view.outside == [], f"requests to outside hosts: {view.outside}"
    assert view.unexpected_errors() == [], f"browser console errors: {view.unexpected_errors()}\n" + "\n".join(
        view.trail
    )


@pytest.fixture
async def console(browser: Browser, console_server: ConsoleServer, tmp_path: Path) -> AsyncIterator[Console]:
    async with open_console(browser, console_server, tmp_path / "screenshot.png") as view:
        yield view
