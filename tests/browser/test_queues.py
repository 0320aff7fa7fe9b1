"""The moderation queues in Chromium: photo, document and report queues, bulk decisions with per-item results,
claimed review by two moderators at once, and the banner when the primary is down. Checked against SQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
from playwright.async_api import Browser, Page, Route, expect

from backend.domain.identity import Role
from tests.browser.conftest import SECOND_MODERATOR, Console, ConsoleServer, open_console


def bulk_requests(page: Page, path: str) -> list[str]:
    """The methods of the requests the page sends to `path` (exactly), as they are sent."""
    sent: list[str] = []
    page.on(
        "request", lambda r: sent.append(r.method) if r.url.split("?")[0].endswith(path) and r.method != "GET" else None
    )
    return sent


async def select_rows(page: Page, count: int) -> None:
    rows = page.locator("table tbody tr")
    await expect(rows.first).to_be_visible()
    for n in range(count):
        await rows.nth(n).get_by_role("checkbox").check()


async def claim_for_admin(db: asyncpg.Connection, table: str, item: uuid.UUID) -> None:
    """Someone else (the admin) holds a claim on the item for five minutes."""
    admin = await db.fetchval("SELECT id FROM admin_users WHERE email = 'admin@browser.test'")
    await db.execute(
        f"UPDATE {table} SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = $1", item, admin
    )


class TestPhotoQueue:
    async def test_bulk_reject_photos_in_one_request_with_a_result_per_photo(
        self, console: Console, browser_db: asyncpg.Connection, project_root: Path, no_claims: None
    ) -> None:
        await console.login(Role.moderator)
        queue = await browser_db.fetch(
            "SELECT p.id FROM user_photos p JOIN users u ON u.id = p.user_id WHERE p.status = 'pending'"
            " AND p.deleted_at IS NULL AND u.deleted_at IS NULL ORDER BY p.created_at, p.id LIMIT 3"
        )
        assert len(queue) == 3
        await claim_for_admin(browser_db, "user_photos", queue[2]["id"])
        sent = bulk_requests(console.page, "/api/v1/admin/photos")
        await console.go("/photos")
        total = await browser_db.fetchval(
            "SELECT count(*) FROM user_photos p JOIN users u ON u.id = p.user_id WHERE p.status = 'pending'"
            " AND p.deleted_at IS NULL AND u.deleted_at IS NULL"
        )
        await expect(console.page.get_by_test_id("queue-total")).to_contain_text(f"{total:,} in this queue")
        assert await console.axe(project_root) == []
        await select_rows(console.page, 3)
        await console.page.get_by_role("button", name="Reject", exact=True).click()
        await console.page.get_by_label("Reason code").select_option("nudity")
        await console.page.get_by_role("button", name="Reject", exact=True).last.click()
        results = console.page.get_by_test_id("bulk-result")
        await expect(results).to_have_count(3)
        for row, outcome in zip(queue, ("ok", "ok", "claimed"), strict=True):
            await expect(console.page.locator(f'[data-testid="bulk-result"][data-id="{row["id"]}"]')).to_have_attribute(
                "data-result", outcome
            )
        await expect(results.nth(2)).to_contain_text("Browser admin is working on this item")
        assert sent == ["PATCH"]  # one request for the three
        decided = await browser_db.fetch(
            "SELECT id, status, reason_code FROM user_photos WHERE id = ANY($1)", [r["id"] for r in queue]
        )
        by_id = {row["id"]: (row["status"], row["reason_code"]) for row in decided}
        assert [by_id[r["id"]] for r in queue] == [("rejected", "nudity"), ("rejected", "nudity"), ("pending", None)]
        await console.page.get_by_role("button", name="Close").click()
        # The list reloaded: the rejected photos left the pending queue.
        await expect(console.page.get_by_test_id("queue-total")).to_contain_text(f"{total - 2:,} in this queue")


class TestDocumentQueue:
    async def test_verify_a_document_from_the_queue(
        self, console: Console, browser_db: asyncpg.Connection, project_root: Path, no_claims: None
    ) -> None:
        await console.login(Role.moderator)
        oldest = await browser_db.fetchval(
            "SELECT d.id FROM user_documents d JOIN users u ON u.id = d.user_id WHERE d.status = 'pending'"
            " AND d.deleted_at IS NULL AND u.deleted_at IS NULL ORDER BY d.created_at, d.id LIMIT 1"
        )
        assert oldest is not None
        await console.go("/documents")
        await expect(console.page.locator("table tbody tr").first).to_be_visible()
        assert await console.axe(project_root) == []
        await select_rows(console.page, 1)
        await console.page.get_by_role("button", name="Verify", exact=True).click()
        await expect(console.page.get_by_test_id("bulk-result")).to_have_attribute("data-result", "ok")
        assert await browser_db.fetchval("SELECT status FROM user_documents WHERE id = $1", oldest) == "verified"

    async def test_an_identity_document_opens_on_request_and_the_access_is_logged(
        self, console: Console, browser_db: asyncpg.Connection, no_claims: None
    ) -> None:
        """The queue carries no URL for an identity document: the button asks for one, which is logged."""
        await console.login(Role.moderator)
        oldest = await browser_db.fetchval(
            "SELECT d.id FROM user_documents d JOIN users u ON u.id = d.user_id WHERE d.status = 'pending'"
            " AND d.doc_type = 'identity' AND d.deleted_at IS NULL AND u.deleted_at IS NULL"
            " ORDER BY d.created_at, d.id LIMIT 1"
        )
        assert oldest is not None
        logged = await browser_db.fetchval("SELECT count(*) FROM access_log")
        await console.go("/documents?filter=" + json.dumps({"status": "pending", "doc_type": "identity"}))
        row = console.page.locator("table tbody tr").filter(has_text="Open identity document").first
        await expect(row).to_be_visible()
        await expect(row.get_by_role("link")).to_have_count(0)
        async with console.page.expect_download() as download:
            await row.get_by_role("button", name="(the access is logged)").click()
        assert (await download.value).url.startswith("http")
        assert await browser_db.fetchval("SELECT count(*) FROM access_log") == logged + 1
        newest = await browser_db.fetchrow("SELECT doc_type, actor_type FROM access_log ORDER BY id DESC LIMIT 1")
        assert newest is not None
        assert (newest["doc_type"], newest["actor_type"]) == ("identity", "operator")


class TestReports:
    async def test_resolve_a_report_and_see_the_grouped_view(
        self, console: Console, browser_db: asyncpg.Connection, project_root: Path, no_claims: None
    ) -> None:
        member = await browser_db.fetchrow(
            "SELECT id, name FROM users WHERE deleted_at IS NULL AND status = 'active' ORDER BY created_at LIMIT 1"
        )
        assert member is not None
        reports = [
            await browser_db.fetchval(
                "INSERT INTO reports (reported_member_id, reason_code, text, created_at)"
                " VALUES ($1, $2, $3, '2001-01-01'::timestamptz + $4 * interval '1 minute') RETURNING id",
                member["id"],
                code,
                f"Browser test report {n}",
                n,
            )
            for n, code in enumerate(("harassment", "spam"))
        ]
        try:
            await console.login(Role.moderator)
            await console.go("/reports")
            first = console.page.locator("table tbody tr").first
            await expect(first).to_contain_text("Browser test report 0")
            assert await console.axe(project_root) == []
            # The switch shows the list's filter, which changes once the address does: click, then see it on.
            grouping = console.page.get_by_label("Group by member")
            await grouping.click()
            await expect(grouping).to_be_checked()
            group = console.page.locator("table tbody tr").first
            await expect(group).to_contain_text(member["name"])
            await expect(group.locator("td.column-reports")).to_have_text("2")
            await group.get_by_role("button", name=f"Reports about {member['name']}").click()
            await expect(console.page.locator("table tbody tr")).to_have_count(2)
            await console.page.get_by_role("button", name=f"Resolve {member['name']}").first.click()
            await console.page.get_by_label("Actioned: a decision was taken").check()
            await console.page.get_by_label("Action", exact=True).select_option("warning")
            await console.page.get_by_label("Note").fill("Warned in the app")
            await console.page.get_by_role("button", name="Resolve", exact=True).click()
            await expect(console.page.get_by_text(f"Report about {member['name']}: actioned")).to_be_visible()
            row = await browser_db.fetchrow(
                "SELECT status, action, resolution_note FROM reports WHERE id = $1", reports[0]
            )
            assert row is not None
            assert tuple(row) == ("actioned", "warning", "Warned in the app")
            assert await browser_db.fetchval("SELECT status FROM reports WHERE id = $1", reports[1]) == "open"
        finally:
            await browser_db.execute("DELETE FROM reports WHERE id = ANY($1)", reports)


class TestMemberBulk:
    async def test_bulk_reject_with_a_reason_in_one_request_shows_each_members_result(
        self, console: Console, browser_db: asyncpg.Connection, no_claims: None
    ) -> None:
        await console.login(Role.moderator)
        sent = bulk_requests(console.page, "/api/v1/admin/members/bulk")
        await console.go("/members")
        await console.page.get_by_role("button", name="pending").click()
        await expect(console.page.get_by_role("button", name="pending")).to_have_attribute("aria-pressed", "true")
        await console.page.get_by_role("button", name="Signed up").click()  # oldest first
        await expect(console.page.locator("table tbody tr td.column-status").first).to_have_text("pending")
        shown = await browser_db.fetch(
            "SELECT id, name FROM users WHERE status = 'pending' AND deleted_at IS NULL ORDER BY created_at, id LIMIT 3"
        )
        await expect(console.page.locator("table tbody tr td.column-name").first).to_have_text(shown[0]["name"])
        await select_rows(console.page, 3)
        # Meanwhile someone approved the third: its rejection is refused, the others go through.
        await browser_db.execute("UPDATE users SET status = 'active' WHERE id = $1", shown[2]["id"])
        await console.page.get_by_role("button", name="Reject", exact=True).click()
        await console.page.get_by_label("Reason code").select_option("spam")
        await console.page.get_by_label("Reason", exact=True).fill("Same text sent to 40 members")
        await console.page.get_by_role("button", name="Reject", exact=True).last.click()
        results = console.page.get_by_test_id("bulk-result")
        await expect(results).to_have_count(3)
        await expect(results.nth(0)).to_have_attribute("data-result", "ok")
        await expect(results.nth(0)).to_contain_text(shown[0]["name"])
        await expect(results.nth(2)).to_have_attribute("data-result", "conflict")
        await expect(results.nth(2)).to_contain_text("Cannot reject a member who is active")
        assert sent == ["POST"]
        statuses = await browser_db.fetch(
            "SELECT u.id, u.status, n.reason_code, n.content FROM users u"
            " LEFT JOIN member_notes n ON n.user_id = u.id AND n.kind = 'rejected' WHERE u.id = ANY($1)",
            [r["id"] for r in shown],
        )
        by_id = {row["id"]: tuple(row)[1:] for row in statuses}
        assert by_id[shown[0]["id"]] == ("rejected", "spam", "Same text sent to 40 members")
        assert by_id[shown[1]["id"]] == ("rejected", "spam", "Same text sent to 40 members")
        assert by_id[shown[2]["id"]] == ("active", None, None)


class TestClaimedReview:
    async def test_two_moderators_never_see_the_same_member(
        self,
        browser: Browser,
        console_server: ConsoleServer,
        browser_db: asyncpg.Connection,
        tmp_path: Path,
        no_claims: None,
    ) -> None:
        pending = await browser_db.fetch(
            "SELECT id FROM users WHERE status = 'pending' AND deleted_at IS NULL ORDER BY created_at, id LIMIT 3"
        )
        async with (
            open_console(browser, console_server, tmp_path / "first.png") as first,
            open_console(browser, console_server, tmp_path / "second.png") as second,
        ):
            await first.login(Role.moderator)
            await second.login(Role.moderator, as_email=SECOND_MODERATOR)
            await first.go("/reviews")
            card1 = first.page.get_by_test_id("review-member")
            await expect(card1).to_have_attribute("data-member-id", str(pending[0]["id"]))
            await second.go("/reviews")
            card2 = second.page.get_by_test_id("review-member")
            await expect(card2).to_have_attribute("data-member-id", str(pending[1]["id"]))
            # S on a pending member: the API suspends active members only, so the key is disabled, with a hint.
            await expect(first.page.get_by_role("button", name="Suspend (S)")).to_be_disabled()
            await first.page.keyboard.press("s")
            await expect(first.page.get_by_text("A pending member cannot be suspended").first).to_be_visible()
            await expect(first.page.get_by_role("dialog")).to_have_count(0)
            # The first skips: the next member nobody holds, never the second's.
            await first.page.keyboard.press("n")
            await expect(card1).to_have_attribute("data-member-id", str(pending[2]["id"]))
            holders = await browser_db.fetch(
                "SELECT u.id, a.email FROM users u LEFT JOIN admin_users a ON a.id = u.claimed_by WHERE u.id = ANY($1)",
                [r["id"] for r in pending],
            )
            assert {row["id"]: row["email"] for row in holders} == {
                pending[0]["id"]: None,  # given back by the skip
                pending[1]["id"]: SECOND_MODERATOR,
                pending[2]["id"]: "moderator@browser.test",
            }
            # The second approves and moves on to the member the first gave back, not the first's.
            await second.page.keyboard.press("a")
            await expect(card2).to_have_attribute("data-member-id", str(pending[0]["id"]))
            assert await browser_db.fetchval("SELECT status FROM users WHERE id = $1", pending[1]["id"]) == "active"


class TestPrimaryDown:
    async def test_the_banner_shows_and_reads_keep_working(self, console: Console) -> None:
        """The primary's failure injected at the boundary: /health/ready says it is down, and writes answer 503."""
        console.expect_status(503)
        await console.login(Role.moderator)
        ready = {"status": "degraded", "primary": {"status": "down"}, "replicas": [], "s3": {"status": "up"}}

        async def primary_down(route: Route) -> None:
            await route.fulfill(status=503, content_type="application/json", body=json.dumps(ready))

        await console.page.route("**/health/ready", primary_down)
        await console.page.reload()
        await expect(console.page.get_by_test_id("primary-down")).to_be_visible()
        await console.go("/members")
        await expect(console.page.locator("table tbody tr").first).to_be_visible()  # reads go on
        await expect(console.page.get_by_test_id("primary-down")).to_be_visible()


class TestDashboardQueues:
    async def test_a_degraded_queues_section_is_marked_so(self, console: Console) -> None:
        """The server's answer with its queues section degraded (null, named in `degraded`), made at the boundary."""

        async def queues_degraded(route: Route) -> None:
            answer = await route.fetch()
            body = await answer.json()
            body["queues"] = None
            body["degraded"] = [*body["degraded"], "queues"]
            await route.fulfill(response=answer, json=body)

        await console.page.route("**/api/v1/admin/dashboard/stats", queues_degraded)
        await console.login(Role.viewer)
        await expect(console.page.get_by_text("Queues unavailable right now")).to_be_visible()
        await expect(console.page.get_by_text("Some sections could not be loaded: queues.")).to_be_visible()
        await expect(console.page.get_by_test_id("figure-total_members")).to_be_visible()
