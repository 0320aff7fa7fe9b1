"""Issue 14's browser figures: the console in Debian's Chromium (Playwright) against the bench app at 1M members.

- login to the members list's first rows: a fresh browser context (nothing cached) opens `/console/#/members`,
  gets the login page, and the clock runs from the click on "Log in" to the list's first rows on screen (the
  dashboard is never shown on the way: react-admin goes back to the page asked for);
- a filter change to new rows: on the list, a filter toggle clicked (status, gender, photos), until the rows on
  screen are the page the API answered for it (react-admin keeps the old rows until the new page has come); every
  click lands on a combination of filters the page has not asked for before, so no answer comes from the
  console's cache;
- member detail with photos: a member with photos opened on its photos tab (from the list, then from the
  previous member), until every photo is on screen (the presigned URLs fetched from S3; one that fails to load
  fails the figure);
- the initial JavaScript, gzipped: the entry script and the chunks index.html preloads (what the login page
  needs), as tests/browser/test_bundle.py counts it.

Each figure is timed in Python around Playwright's actions (its round trips to the browser are in it: a few ms).
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from bench.config import PROJECT_ROOT

LOGIN_TARGET_MS = 1000.0
FILTER_P95_TARGET_MS = 300.0
DETAIL_TARGET_MS = 500.0
INITIAL_JS_TARGET_BYTES = 350_000
LOGINS = 5
FILTER_CHANGES = 20
DETAILS = 10
FILTER_TOGGLES: tuple[tuple[str, str, str | bool], ...] = (
    *(("status", status, status) for status in ("pending", "active", "rejected", "suspended")),
    *(("gender", gender, gender) for gender in ("male", "female")),
    ("has_photos", "Has photos", True),
    ("has_photos", "No photos", False),
)
"""The console's filter toggles: (filter key, button label, value)."""


@dataclass
class BrowserResult:
    login_ms: list[float] = field(default_factory=list)
    filter_ms: list[float] = field(default_factory=list)
    detail_ms: list[float] = field(default_factory=list)
    initial_js_bytes: int | None = None
    error: str | None = None

    @staticmethod
    def p95(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else float("inf")

    @staticmethod
    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("inf")

    def describe(self, values: list[float]) -> str:
        if not values:
            return "not measured" + (f" ({self.error})" if self.error else "")
        return (
            f"p50 {self.median(values):.0f} ms, p95 {self.p95(values):.0f} ms, worst {max(values):.0f} ms"
            f" over {len(values)}"
        )


def initial_javascript_bytes(dist: Path = PROJECT_ROOT / "console" / "dist") -> int | None:
    """The gzipped size of what index.html loads before any route (None when the console is not built)."""
    index = dist / "index.html"
    if not index.is_file():
        return None
    html = index.read_text()
    names = re.findall(r'<script[^>]+src="/console/([^"]+\.js)"', html)
    names += re.findall(r'<link[^>]+rel="modulepreload"[^>]+href="/console/([^"]+\.js)"', html)
    return sum(len(gzip.compress((dist / name).read_bytes(), compresslevel=9)) for name in names)


async def _members_with_photos(dsn: str, count: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT u.id FROM users u WHERE u.deleted_at IS NULL AND EXISTS (SELECT 1 FROM user_photos p"
            " WHERE p.user_id = u.id AND p.deleted_at IS NULL AND p.status <> 'uploading')"
            " ORDER BY u.created_at DESC LIMIT $1",
            count,
        )
    finally:
        await conn.close()
    return [str(row["id"]) for row in rows]


async def _login_to_rows(browser: Browser, base: str, email: str, password: str) -> tuple[float, Page]:
    context = await browser.new_context(base_url=base, viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    await page.goto(f"{base}/console/#/members")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    rows = page.locator("table tbody tr td.column-name")
    started = time.perf_counter()
    await page.get_by_role("button", name="Log in").click()
    await rows.first.wait_for(timeout=30_000)
    return (time.perf_counter() - started) * 1000, page


def _toggled(state: dict[str, str | bool], key: str, value: str | bool) -> dict[str, str | bool]:
    after = dict(state)
    if after.get(key) == value:
        del after[key]
    else:
        after[key] = value
    return after


def filter_walk(changes: int) -> list[str]:
    """Labels of toggles to click, in order, each landing on a combination of filters not yet asked for (a toggle
    sets its value, or clears it when it is on, as console/src/members/MemberList.tsx's FilterToggle does)."""
    state: dict[str, str | bool] = {}
    seen = {frozenset(state.items())}
    clicks: list[str] = []
    while len(clicks) < changes:
        fresh = [
            (label, after)
            for key, label, value in FILTER_TOGGLES
            if frozenset((after := _toggled(state, key, value)).items()) not in seen
        ]
        if not fresh:
            raise ValueError(f"no new combination of filters after {len(clicks)} clicks")
        label, state = fresh[0]
        seen.add(frozenset(state.items()))
        clicks.append(label)
    return clicks


async def _filter_change(page: Page, label: str) -> float:
    started = time.perf_counter()
    async with page.expect_response(lambda r: "/api/v1/admin/members?" in r.url) as answered:
        await page.get_by_role("button", name=label, exact=True).click()
    names = [member["name"] for member in await (await answered.value).json()]
    await page.wait_for_function(
        """names => {
            const cells = [...document.querySelectorAll('table tbody tr td.column-name')];
            return cells.length === names.length && cells.every((cell, n) => cell.textContent.trim() === names[n]);
        }""",
        arg=names,
        polling="raf",
        timeout=30_000,
    )
    return (time.perf_counter() - started) * 1000


async def _detail(page: Page, member_id: str) -> float:
    started = time.perf_counter()
    await page.evaluate("id => { location.hash = `#/members/${id}/show/photos`; }", member_id)
    try:
        await page.wait_for_function(
            """id => {
                const images = [...document.querySelectorAll('[data-testid="photo"] img')];
                return location.hash.includes(id) && images.length > 0 && images.every(img => img.complete);
            }""",
            arg=member_id,
            polling="raf",
            timeout=30_000,
        )
    except PlaywrightTimeout as timeout:
        state = await page.evaluate(
            """() => ({hash: location.hash, cards: document.querySelectorAll('[data-testid="photo"]').length,
                       images: [...document.querySelectorAll('[data-testid="photo"] img')]
                           .map(img => `${img.complete}/${img.naturalWidth}`).join(' ')})"""
        )
        raise RuntimeError(f"member {member_id}'s photos did not show: {state}") from timeout
    elapsed = (time.perf_counter() - started) * 1000
    broken = await page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="photo"] img')].filter(i => !i.naturalWidth).length"""
    )
    if broken:
        raise RuntimeError(f"member {member_id}: {broken} photo(s) did not load")
    return elapsed


async def _measure(base: str, email: str, password: str, dsn: str) -> BrowserResult:
    result = BrowserResult(initial_js_bytes=initial_javascript_bytes())
    executable = shutil.which("chromium")
    if executable is None:
        result.error = "Debian's chromium is not installed (`make chromium`)"
        return result
    members = await _members_with_photos(dsn, DETAILS)
    async with async_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = await playwright.chromium.launch(executable_path=executable, args=args)
        try:
            page: Page | None = None
            for _ in range(LOGINS):
                if page is not None:
                    await page.context.close()
                elapsed, page = await _login_to_rows(browser, base, email, password)
                result.login_ms.append(elapsed)
            assert page is not None
            for label in filter_walk(FILTER_CHANGES):
                result.filter_ms.append(await _filter_change(page, label))
            # From one member's photos to the next (the list, once mounted, rewrites the address with its filters
            # and would race a hash set meanwhile).
            for member_id in members:
                result.detail_ms.append(await _detail(page, member_id))
            await page.context.close()
        except Exception as error:  # a figure that cannot be taken is reported, not a crash of the whole bench
            result.error = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        finally:
            await browser.close()
    return result


def measure_browser(base: str, email: str, password: str, dsn: str) -> BrowserResult:
    """The four browser figures of issue 14 against the app at `base`, logged in as `email`."""
    return asyncio.run(_measure(base, email, password, dsn))
