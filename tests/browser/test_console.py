"""The operator console in Chromium: what an operator does, checked against SQL."""

from __future__ import annotations

import io
import random
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
from PIL import Image
from playwright.async_api import FilePayload, Response, expect

from backend.domain.identity import Role
from devtools.services import ServiceUrls
from tests.browser.conftest import Console
from tests.conftest import wait_for_replica

PAGE = 25


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 400), (180, 90, 60)).save(out, "JPEG")
    return out.getvalue()


async def member_names_on_page(console: Console) -> list[str]:
    cells = console.page.locator("table tbody tr td.column-name")
    await expect(cells.first).to_be_visible()
    return [text.strip() for text in await cells.all_inner_texts()]


class TestLogin:
    async def test_login_shows_the_dashboard_with_the_databases_figures(
        self, console: Console, browser_db: asyncpg.Connection, project_root: Path
    ) -> None:
        await console.login(Role.admin)
        total = await browser_db.fetchval("SELECT count(*) FROM users WHERE deleted_at IS NULL")
        figure = console.page.get_by_test_id("figure-total_members")
        await expect(figure).to_contain_text(f"{total:,}")
        await expect(console.page.get_by_role("img", name="Sign-ups per day")).to_be_visible()
        await expect(console.page.get_by_role("table", name="Active subscriptions by plan")).to_be_visible()
        pending = await browser_db.fetchval(
            "SELECT count(*) FROM users WHERE status = 'pending' AND deleted_at IS NULL"
        )
        members_queue = console.page.get_by_test_id("queue-members")
        await expect(members_queue.get_by_role("cell").nth(1)).to_have_text(f"{pending:,}")
        await expect(members_queue.get_by_role("cell").nth(2)).not_to_have_text("—")  # the oldest one's age
        await console.readme_shot("dashboard")
        assert await console.axe(project_root) == []

    async def test_a_wrong_password_is_explained_and_keeps_the_login_page(self, console: Console) -> None:
        console.expect_status(401)
        await console.page.goto(f"{console.base}/console/")
        await console.page.get_by_label("Email").fill("admin@browser.test")
        await console.page.get_by_label("Password").fill("not the password")
        await console.page.get_by_role("button", name="Log in").click()
        await expect(console.page.get_by_text("Invalid email or password.")).to_be_visible()


class TestMembers:
    async def test_filter_sort_and_page_match_sql(
        self, console: Console, browser_db: asyncpg.Connection, project_root: Path
    ) -> None:
        await console.login(Role.viewer)
        await console.go("/members")
        await member_names_on_page(console)
        page = console.page

        def listing(*parts: str) -> Callable[[Response], bool]:
            return lambda r: "/api/v1/admin/members?" in r.url and all(part in r.url for part in parts)

        async with page.expect_response(listing("gender=female")):
            await page.get_by_role("button", name="female").click()
        # The list takes a filter when it renders with it (a transition after the click, which the page's answer,
        # asked for at the click, may beat); a sort clicked before that would sort the list the operator still sees.
        await expect(page.get_by_role("button", name="female")).to_have_attribute("aria-pressed", "true")
        async with page.expect_response(listing("gender=female", "sort=name&", "offset=0")):
            await page.get_by_role("button", name="Name").click()  # the column header sorts by it
        async with page.expect_response(listing("gender=female", "sort=name&", f"offset={PAGE}")):
            await page.get_by_role("button", name="Go to next page").click()
        where = "gender = 'female' AND deleted_at IS NULL"
        total = await browser_db.fetchval(f"SELECT count(*) FROM users WHERE {where}")
        assert total > PAGE
        expected = [
            row["name"]
            for row in await browser_db.fetch(
                f"SELECT name FROM users WHERE {where} ORDER BY name, id LIMIT {PAGE} OFFSET {PAGE}"
            )
        ]
        await expect(console.page.locator("table tbody tr td.column-name").first).to_have_text(expected[0])
        assert await member_names_on_page(console) == expected
        await expect(console.page.get_by_text(f"{PAGE + 1}-{min(2 * PAGE, total)} of {total}")).to_be_visible()
        await console.readme_shot("members")
        assert await console.axe(project_root) == []

    async def test_a_filter_click_asks_for_its_page_once(
        self, console: Console, browser_db: asyncpg.Connection
    ) -> None:
        """The toggle asks for the new page at the click, under the list's own query key: the list, rendered with
        the new filter a moment later, takes that answer instead of asking again (console/src/hooks.ts)."""
        await console.login(Role.viewer)
        await console.go("/members")
        await member_names_on_page(console)
        page = console.page
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/api/v1/admin/members?" in r.url else None)
        for status in ("active", "rejected", "pending"):
            await page.get_by_role("button", name=status, exact=True).click()
            expected = [
                row["name"]
                for row in await browser_db.fetch(
                    "SELECT name FROM users WHERE status = $1 AND deleted_at IS NULL"
                    f" ORDER BY created_at DESC, id DESC LIMIT {PAGE}",
                    status,
                )
            ]
            assert expected
            await expect(page.locator("table tbody tr td.column-name").first).to_have_text(expected[0])
            await expect(page.locator("table tbody tr td.column-status")).to_have_text([status] * len(expected))
            assert await member_names_on_page(console) == expected
        # Requests are reported in the order they are sent: one sent after the last filter's rows came closes the
        # record (a second request of that filter would have been sent before it, once the list had rendered).
        async with page.expect_request(lambda r: "sort=name&" in r.url):
            await page.get_by_role("button", name="Name").click()
        asked_for = [(url.split("status=")[1].split("&")[0], url.split("sort=")[1].split("&")[0]) for url in asked]
        sorted_by_date = ("-created_at",) * 3
        assert asked_for == [*zip(("active", "rejected", "pending"), sorted_by_date, strict=True), ("pending", "name")]

    async def test_a_search_past_10000_matches_pages_on_its_estimate(
        self, console: Console, browser_db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        # A search is counted up to 10,000 matches; past them the total is an estimate, and the console pages on it.
        tag = "".join(random.choice("qxzvjw") for _ in range(8))
        since = await browser_db.fetchval("SELECT clock_timestamp()")
        await browser_db.execute(
            "INSERT INTO users (phone, name, gender, birth_year, status)"
            " SELECT '+8218' || lpad(n::text, 8, '0'), 'Searched ' || $1, 'female', 1990, 'active'"
            " FROM generate_series(1, 10050) AS n",
            tag.capitalize(),
        )
        await wait_for_replica(services)
        try:
            await console.login(Role.viewer)
            await console.go("/members")
            await member_names_on_page(console)
            page = console.page
            async with page.expect_response(lambda r: f"q={tag}" in r.url) as answered:
                await page.get_by_placeholder("Name or phone").fill(tag)
            estimate = int((await answered.value).headers["x-total-count"])
            assert estimate > 10_000
            await expect(page.get_by_text(re.compile(f"^1-{PAGE} of ({estimate}|{estimate:,})$"))).to_be_visible()
            async with page.expect_response(lambda r: f"q={tag}" in r.url and f"offset={PAGE}" in r.url):
                await page.get_by_role("button", name="Go to next page").click()
            shown = re.compile(f"^{PAGE + 1}-{2 * PAGE} of ({estimate}|{estimate:,})$")
            await expect(page.get_by_text(shown)).to_be_visible()
            assert len(await member_names_on_page(console)) == PAGE
        finally:
            await browser_db.execute(
                "DELETE FROM users WHERE created_at >= $1 AND name = 'Searched ' || $2", since, tag.capitalize()
            )

    async def test_a_member_opens_in_tabs(
        self, console: Console, browser_db: asyncpg.Connection, project_root: Path
    ) -> None:
        await console.login(Role.moderator)
        member = await browser_db.fetchrow(
            "SELECT u.id, u.name, p.region FROM users u JOIN user_profiles p ON p.id = u.id"
            " WHERE u.deleted_at IS NULL AND EXISTS (SELECT 1 FROM user_photos f WHERE f.user_id = u.id"
            " AND f.deleted_at IS NULL) ORDER BY u.created_at DESC, u.id DESC LIMIT 1"
        )
        assert member is not None
        await console.go("/members")
        await console.page.get_by_role("cell", name=member["name"], exact=True).first.click()
        await expect(console.page.get_by_role("tab", name="Profile")).to_be_visible()
        await expect(console.page.get_by_text(member["region"] or "—").first).to_be_visible()
        assert await console.axe(project_root) == []
        await console.page.get_by_role("tab", name="Photos").click()
        photos = await browser_db.fetchval(
            "SELECT count(*) FROM user_photos WHERE user_id = $1 AND deleted_at IS NULL", member["id"]
        )
        await expect(console.page.get_by_test_id("photo")).to_have_count(photos)
        await console.page.get_by_role("tab", name="History").click()
        await console.page.get_by_role("tab", name="Notes").click()
        await expect(console.page.get_by_label("New note")).to_be_visible()

    async def test_upload_a_photo_from_the_browser_and_see_it_in_the_gallery(
        self, console: Console, browser_db: asyncpg.Connection
    ) -> None:
        await console.login(Role.moderator)
        member_id = await browser_db.fetchval(
            "SELECT id FROM users WHERE deleted_at IS NULL ORDER BY created_at DESC LIMIT 1"
        )
        before = await browser_db.fetchval(
            "SELECT count(*) FROM user_photos WHERE user_id = $1 AND deleted_at IS NULL", member_id
        )
        await console.go(f"/members/{member_id}/show/photos")
        await expect(console.page.get_by_test_id("photo")).to_have_count(before)
        await console.page.locator("#photo-upload").set_input_files(
            files=[FilePayload(name="portrait.jpg", mimeType="image/jpeg", buffer=jpeg())]
        )
        await expect(console.page.get_by_text("Photo uploaded: pending review")).to_be_visible()
        await expect(console.page.get_by_test_id("photo")).to_have_count(before + 1)
        await expect(console.page.locator('[data-testid="photo"][data-status="pending"]').last).to_be_visible()
        status = await browser_db.fetchval(
            "SELECT status FROM user_photos WHERE user_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 1",
            member_id,
        )
        assert status == "pending"  # uploaded to S3 through the presigned form, then checked by the server

    async def test_a_stale_edit_shows_the_conflict_and_reloads(
        self, console: Console, browser_db: asyncpg.Connection
    ) -> None:
        console.expect_status(412)
        await console.login(Role.admin)
        member_id = await browser_db.fetchval("SELECT id FROM users WHERE deleted_at IS NULL ORDER BY name LIMIT 1")
        await console.go(f"/members/{member_id}")
        name = console.page.get_by_label("Name", exact=True)
        await expect(name).not_to_have_value("")
        elsewhere = f"Changed elsewhere {uuid.uuid4().hex[:6]}"
        await browser_db.execute(
            "UPDATE users SET name = $2, version = version + 1 WHERE id = $1", member_id, elsewhere
        )
        await name.fill("My edit")
        await console.page.get_by_role("button", name="Save").click()
        dialog = console.page.get_by_test_id("conflict")
        await expect(dialog.get_by_text("Changed by someone else").first).to_be_visible()
        await dialog.get_by_role("button", name="Reload").click()
        await expect(name).to_have_value(elsewhere)
        assert await browser_db.fetchval("SELECT name FROM users WHERE id = $1", member_id) == elsewhere


class TestReviewQueue:
    async def test_approve_the_oldest_pending_member_with_the_keyboard(
        self, console: Console, browser_db: asyncpg.Connection, project_root: Path, no_claims: None
    ) -> None:
        await console.login(Role.moderator)
        pending = await browser_db.fetch(
            "SELECT id FROM users WHERE status = 'pending' AND deleted_at IS NULL ORDER BY created_at, id LIMIT 2"
        )
        assert len(pending) == 2
        await console.go("/reviews")
        card = console.page.get_by_test_id("review-member")
        await expect(card).to_have_attribute("data-member-id", str(pending[0]["id"]))
        await console.readme_shot("review-queue")
        assert await console.axe(project_root) == []
        await console.page.keyboard.press("a")
        await expect(card).to_have_attribute("data-member-id", str(pending[1]["id"]))  # moved on by itself
        assert await browser_db.fetchval("SELECT status FROM users WHERE id = $1", pending[0]["id"]) == "active"
        holder = await browser_db.fetchval(
            "SELECT a.email FROM users u JOIN admin_users a ON a.id = u.claimed_by WHERE u.id = $1", pending[1]["id"]
        )
        assert holder == "moderator@browser.test"  # the member on screen is claimed for this moderator

    async def test_reject_asks_for_a_reason_and_skip_moves_on(
        self, console: Console, browser_db: asyncpg.Connection, no_claims: None
    ) -> None:
        await console.login(Role.moderator)
        pending = await browser_db.fetch(
            "SELECT id FROM users WHERE status = 'pending' AND deleted_at IS NULL ORDER BY created_at, id LIMIT 3"
        )
        await console.go("/reviews")
        card = console.page.get_by_test_id("review-member")
        await expect(card).to_have_attribute("data-member-id", str(pending[0]["id"]))
        await console.page.keyboard.press("n")
        await expect(card).to_have_attribute("data-member-id", str(pending[1]["id"]))
        await console.page.keyboard.press("r")
        await console.page.get_by_label("Reason code").select_option("impersonation")
        await console.page.get_by_label("Reason", exact=True).fill("Photos of someone else")
        await console.page.keyboard.press("Enter")
        await expect(card).to_have_attribute("data-member-id", str(pending[2]["id"]))
        assert await browser_db.fetchval("SELECT status FROM users WHERE id = $1", pending[1]["id"]) == "rejected"
        note = await browser_db.fetchrow(
            "SELECT reason_code, content FROM member_notes WHERE user_id = $1 AND kind = 'rejected'", pending[1]["id"]
        )
        assert note is not None
        assert (note["reason_code"], note["content"]) == ("impersonation", "Photos of someone else")
        assert await browser_db.fetchval("SELECT status FROM users WHERE id = $1", pending[0]["id"]) == "pending"
        # The skipped member was given back to the queue.
        assert await browser_db.fetchval("SELECT claimed_by FROM users WHERE id = $1", pending[0]["id"]) is None


class TestRoles:
    async def test_a_viewer_sees_no_action_buttons(self, console: Console, browser_db: asyncpg.Connection) -> None:
        await console.login(Role.viewer)
        member_id = await browser_db.fetchval(
            "SELECT id FROM users WHERE status = 'pending' AND deleted_at IS NULL ORDER BY created_at LIMIT 1"
        )
        await console.go(f"/members/{member_id}/show")
        await expect(console.page.get_by_role("tab", name="Profile")).to_be_visible()
        for action in ("Approve", "Reject", "Suspend", "Edit", "Delete", "Restore"):
            await expect(console.page.get_by_role("button", name=action, exact=True)).to_have_count(0)
        await console.page.get_by_role("tab", name="Photos").click()
        await expect(console.page.get_by_role("button", name="Upload a photo")).to_have_count(0)
        await expect(console.page.get_by_role("button", name="Approve")).to_have_count(0)
        await console.page.get_by_role("tab", name="Notes").click()
        await expect(console.page.get_by_label("New note")).to_have_count(0)
        await console.go("/reviews")
        await expect(console.page.get_by_test_id("review-member")).to_be_visible()
        await expect(console.page.get_by_role("button", name="Approve (A)")).to_have_count(0)
        await console.page.keyboard.press("a")
        # The admin pages are not in a viewer's menu.
        await expect(console.page.get_by_role("menuitem", name="Operators")).to_have_count(0)
        assert await browser_db.fetchval("SELECT status FROM users WHERE id = $1", member_id) == "pending"


class TestSession:
    async def test_the_access_token_is_renewed_from_the_refresh_cookie(self, console: Console) -> None:
        await console.page.clock.install()
        await console.login(Role.moderator)
        renewals: list[Response] = []
        console.page.on("response", lambda r: renewals.append(r) if r.url.endswith("/api/v1/auth/refresh") else None)
        # Past half of the 60-second token: the next call renews it first (the server's token is still valid, so
        # this shows the renewal before expiry; the 401 path is in the providers' unit tests).
        await console.page.clock.fast_forward(40_000)
        await console.go("/members")
        await expect(console.page.locator("table tbody tr").first).to_be_visible()
        assert [r.status for r in renewals] == [200]
        cookies = {c["name"]: c for c in await console.page.context.cookies()}
        refresh = cookies["memberdesk_refresh"]
        assert refresh["httpOnly"] is True
        assert refresh["sameSite"] == "Strict"
        assert refresh["path"] == "/api/v1/auth"
        # A reload drops the in-memory token; the cookie brings the session back.
        await console.page.reload()
        await expect(console.page.locator("table tbody tr").first).to_be_visible()
        assert [r.status for r in renewals] == [200, 200]

    async def test_logout_ends_the_session(self, console: Console) -> None:
        await console.login(Role.moderator)
        before = [c for c in await console.page.context.cookies() if c["name"] == "memberdesk_refresh"]
        assert before
        await console.page.get_by_role("button", name="Browser moderator").click()
        await console.page.get_by_role("menuitem", name="Logout").click()
        await expect(console.page.get_by_role("button", name="Log in")).to_be_visible()
        assert [c for c in await console.page.context.cookies() if c["name"] == "memberdesk_refresh"] == []
        await console.page.reload()
        await expect(console.page.get_by_role("button", name="Log in")).to_be_visible()
        # The old cookie, replayed, is refused: the session is revoked on the server, not only forgotten here.
        await console.page.context.add_cookies(before)  # type: ignore[arg-type]
        replay = await console.page.request.post(
            f"{console.base}/api/v1/auth/refresh", data="{}", headers={"Content-Type": "application/json"}
        )
        assert replay.status == 401


async def test_api_docs_work_without_internet(console: Console) -> None:
    started = time.monotonic()
    await console.page.goto(f"{console.base}/docs")
    await expect(console.page.locator(".opblock").first).to_be_visible()
    assert console.outside == []
    assert time.monotonic() - started < 30
