"""Reports: filed by the app's reporter key (once a day per reporter, member and code), listed, resolved."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.domain.identity import Role
from devtools.services import ServiceUrls
from tests.conftest import api_client, wait_for_replica
from tests.factories import create_member

REPORTS = "/api/v1/admin/reports"
MEMBERS = "/api/v1/admin/members"


@pytest.fixture(scope="module")
async def reporter(app: FastAPI, tokens: dict[Role, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The app's backend, with its reporter key in X-API-Key."""
    async with api_client(app, {"X-API-Key": tokens[Role.reporter]}) as c:
        yield c


@pytest.fixture
async def members(db: asyncpg.Connection) -> AsyncIterator[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
    """A reported member and two members who report; removed (with their reports) afterwards."""
    made = (
        await create_member(db, status="active", name="Reported"),
        await create_member(db, status="active", name="Reporter One"),
        await create_member(db, status="active", name="Reporter Two"),
    )
    yield made
    await db.execute("DELETE FROM users WHERE id = ANY($1)", list(made))


def report_body(reported: uuid.UUID, reporter: uuid.UUID | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"reported_member_id": str(reported), "reason_code": "harassment", "text": "Rude messages"}
    if reporter is not None:
        body["reporter_member_id"] = str(reporter)
    return body | changes


async def reports_about(db: asyncpg.Connection, member: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM reports WHERE reported_member_id = $1 ORDER BY created_at, id", member)


async def written(db: asyncpg.Connection) -> tuple[int, ...]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM audit_log), (SELECT count(*) FROM outbox)"
    )
    assert row is not None
    return tuple(row)


class TestFileReport:
    async def test_the_reporter_key_files_a_report_with_its_audit_row_and_event(
        self, reporter: httpx.AsyncClient, members: tuple[uuid.UUID, ...], db: asyncpg.Connection
    ) -> None:
        reported, one, _ = members
        response = await reporter.post(REPORTS, json=report_body(reported, one))
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"] == f"{REPORTS}/{body['id']}"
        assert body["status"] == "open"
        assert body["reason_code"] == "harassment"
        assert body["member"] == {"id": str(reported), "name": "Reported", "status": "active"}
        assert body["claimed_by"] is None
        rows = await reports_about(db, reported)
        assert [str(r["id"]) for r in rows] == [body["id"]]
        assert str(rows[0]["filed_by"]) == body["filed_by"]
        audit = await db.fetchrow(
            "SELECT * FROM audit_log WHERE action = 'report.filed' AND entity_id = $1", body["id"]
        )
        assert audit is not None
        assert audit["actor_type"] == "api_key"
        event = await db.fetchrow(
            "SELECT payload FROM outbox WHERE topic = 'report.filed' AND payload->>'report_id' = $1", body["id"]
        )
        assert event is not None

    async def test_the_same_reporter_member_and_code_within_a_day_counts_once(
        self, reporter: httpx.AsyncClient, members: tuple[uuid.UUID, ...], db: asyncpg.Connection
    ) -> None:
        reported, one, two = members
        first = await reporter.post(REPORTS, json=report_body(reported, one))
        again = await reporter.post(REPORTS, json=report_body(reported, one, text="Again"))
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["text"] == "Rude messages"  # the report that counted
        other_code = await reporter.post(REPORTS, json=report_body(reported, one, reason_code="spam"))
        other_reporter = await reporter.post(REPORTS, json=report_body(reported, two))
        anonymous = [await reporter.post(REPORTS, json=report_body(reported)) for _ in range(2)]
        assert [r.status_code for r in (other_code, other_reporter, *anonymous)] == [201, 201, 201, 201]
        assert len(await reports_about(db, reported)) == 5
        filed = await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'report.filed'"
            " AND changes->'reported_member_id'->>'after' = $1",
            str(reported),
        )
        assert filed == 5

    async def test_concurrent_filings_of_the_same_report_count_once(
        self, reporter: httpx.AsyncClient, members: tuple[uuid.UUID, ...], db: asyncpg.Connection
    ) -> None:
        reported, one, _ = members
        answers = await asyncio.gather(*(reporter.post(REPORTS, json=report_body(reported, one)) for _ in range(6)))
        assert sorted(r.status_code for r in answers) == [200] * 5 + [201]
        assert len({r.json()["id"] for r in answers}) == 1
        assert len(await reports_about(db, reported)) == 1

    async def test_a_day_later_the_same_report_counts_again(
        self, reporter: httpx.AsyncClient, members: tuple[uuid.UUID, ...], db: asyncpg.Connection
    ) -> None:
        reported, one, _ = members
        first = (await reporter.post(REPORTS, json=report_body(reported, one))).json()
        await db.execute(
            "UPDATE reports SET created_at = created_at - interval '25 hours',"
            " dedupe_window = tstzrange(lower(dedupe_window) - interval '25 hours',"
            " upper(dedupe_window) - interval '25 hours')"
            " WHERE id = $1",
            uuid.UUID(first["id"]),
        )
        later = await reporter.post(REPORTS, json=report_body(reported, one))
        assert later.status_code == 201
        assert later.json()["id"] != first["id"]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"reason_code": "rudeness"}, "reason_code"),
            ({"reason_code": "other", "text": None}, "text"),
            ({"text": "x" * 2001}, "text"),
            ({"text": "   "}, "text"),
            ({"reported_member_id": "not-a-uuid"}, "reported_member_id"),
            ({"unexpected": 1}, "unexpected"),
        ],
    )
    async def test_bad_input_is_422_naming_the_field_and_writes_nothing(
        self,
        reporter: httpx.AsyncClient,
        members: tuple[uuid.UUID, ...],
        db: asyncpg.Connection,
        change: dict[str, Any],
        field: str,
    ) -> None:
        before = await written(db)
        body = {k: v for k, v in (report_body(members[0]) | change).items() if v is not None}
        response = await reporter.post(REPORTS, json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert any(field in str(error["loc"]) for error in response.json()["errors"]), response.text
        assert await written(db) == before

    async def test_a_member_cannot_report_themself(
        self, reporter: httpx.AsyncClient, members: tuple[uuid.UUID, ...]
    ) -> None:
        response = await reporter.post(REPORTS, json=report_body(members[0], members[0]))
        assert response.status_code == 422
        assert "reporter_member_id" in str(response.json()["errors"])

    async def test_an_unknown_or_deleted_member_is_404_naming_the_field(
        self, reporter: httpx.AsyncClient, members: tuple[uuid.UUID, ...], db: asyncpg.Connection
    ) -> None:
        before = await written(db)
        unknown = await reporter.post(REPORTS, json=report_body(uuid.uuid4()))
        assert unknown.status_code == 404
        assert unknown.json()["field"] == "reported_member_id"
        no_reporter = await reporter.post(REPORTS, json=report_body(members[0], uuid.uuid4()))
        assert no_reporter.json()["field"] == "reporter_member_id"
        gone = await create_member(db, status="active", deleted=True)
        try:
            assert (await reporter.post(REPORTS, json=report_body(gone))).status_code == 404
        finally:
            await db.execute("DELETE FROM users WHERE id = $1", gone)
        assert await written(db) == before

    async def test_a_viewer_may_not_file_but_a_moderator_may(
        self, client: httpx.AsyncClient, moderator: httpx.AsyncClient, members: tuple[uuid.UUID, ...]
    ) -> None:
        assert (await client.post(REPORTS, json=report_body(members[0]))).status_code == 403
        assert (await moderator.post(REPORTS, json=report_body(members[0]))).status_code == 201

    async def test_the_reporter_key_can_do_nothing_else(self, reporter: httpx.AsyncClient) -> None:
        for method, path, body in (
            ("GET", REPORTS, None),
            ("GET", MEMBERS, None),
            ("GET", "/api/v1/admin/dashboard/stats", None),
            ("POST", "/api/v1/admin/reviews/next", {"queue": "reports"}),
            ("PATCH", f"{REPORTS}/{uuid.uuid4()}", {"status": "dismissed"}),
            ("GET", "/metrics", None),
        ):
            response = await reporter.request(method, path, json=body)
            assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        # It may ask who it is (the one route every credential may call).
        me = await reporter.get("/api/v1/auth/me")
        assert (me.json()["kind"], me.json()["role"]) == ("api_key", "reporter")


class TestListReports:
    async def test_lists_filter_page_and_group_by_member(
        self,
        reporter: httpx.AsyncClient,
        client: httpx.AsyncClient,
        members: tuple[uuid.UUID, ...],
        db: asyncpg.Connection,
        services: ServiceUrls,
    ) -> None:
        reported, one, two = members
        filed = []
        for code in ("spam", "scam", "harassment"):
            filed.append((await reporter.post(REPORTS, json=report_body(reported, one, reason_code=code))).json())
        filed.append((await reporter.post(REPORTS, json=report_body(one, two))).json())
        await db.execute("UPDATE reports SET status = 'dismissed' WHERE id = $1", uuid.UUID(filed[0]["id"]))
        await wait_for_replica(services)

        mine = f"reported_member_id={reported}&reported_member_id={one}"
        listed = await client.get(f"{REPORTS}?status=open&{mine}&limit=2")
        assert listed.status_code == 200
        assert listed.headers["x-total-count"] == "3"
        first_page = [r["id"] for r in listed.json()]
        assert first_page == [filed[1]["id"], filed[2]["id"]]  # oldest first
        rest = await client.get(f"{REPORTS}?status=open&{mine}&limit=2&cursor={listed.headers['x-next-cursor']}")
        assert [r["id"] for r in rest.json()] == [filed[3]["id"]]

        codes = await client.get(f"{REPORTS}?{mine}&reason_code=scam,spam")
        assert sorted(r["reason_code"] for r in codes.json()) == ["scam", "spam"]

        grouped = await client.get(f"{REPORTS}?status=open&{mine}&group_by=member&sort=-created_at")
        assert grouped.status_code == 200
        assert grouped.headers["x-total-count"] == "2"
        rows = grouped.json()
        assert [(row["id"], row["reports"]) for row in rows] == [(str(one), 1), (str(reported), 2)]
        assert rows[1]["newest"]["id"] == filed[2]["id"]
        assert rows[1]["member"]["name"] == "Reported"

    async def test_a_members_reports_and_counts_in_its_detail(
        self,
        reporter: httpx.AsyncClient,
        client: httpx.AsyncClient,
        members: tuple[uuid.UUID, ...],
        db: asyncpg.Connection,
        services: ServiceUrls,
    ) -> None:
        reported, one, two = members
        for who in (one, two):
            await reporter.post(REPORTS, json=report_body(reported, who))
        await db.execute("UPDATE reports SET status = 'dismissed' WHERE reporter_member_id = $1", two)
        await wait_for_replica(services)
        detail = (await client.get(f"{MEMBERS}/{reported}")).json()
        assert (detail["open_reports"], detail["total_reports"]) == (1, 2)
        listed = await client.get(f"{MEMBERS}/{reported}/reports")
        assert listed.headers["x-total-count"] == "2"
        assert {r["reporter_member_id"] for r in listed.json()} == {str(one), str(two)}
        open_only = await client.get(f"{MEMBERS}/{reported}/reports?status=open")
        assert [r["reporter_member_id"] for r in open_only.json()] == [str(one)]
        unknown = await client.get(f"{MEMBERS}/{uuid.uuid4()}/reports")
        assert (unknown.status_code, unknown.json(), unknown.headers["x-total-count"]) == (200, [], "0")

    async def test_an_unknown_filter_is_400_naming_it(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{REPORTS}?status=closed")
        assert response.status_code in (400, 422)
        assert "status" in response.text


class TestResolveReport:
    async def test_dismiss_and_action_with_audit_and_event(
        self,
        reporter: httpx.AsyncClient,
        moderator: httpx.AsyncClient,
        members: tuple[uuid.UUID, ...],
        db: asyncpg.Connection,
    ) -> None:
        reported, one, two = members
        first = (await reporter.post(REPORTS, json=report_body(reported, one))).json()
        second = (await reporter.post(REPORTS, json=report_body(reported, two))).json()
        dismissed = await moderator.patch(f"{REPORTS}/{first['id']}", json={"status": "dismissed", "note": "Banter"})
        assert dismissed.status_code == 200, dismissed.text
        assert dismissed.json()["status"] == "dismissed"
        assert dismissed.json()["resolution_note"] == "Banter"
        assert dismissed.json()["resolved_at"] is not None
        actioned = await moderator.patch(f"{REPORTS}/{second['id']}", json={"status": "actioned", "action": "suspend"})
        assert actioned.json()["action"] == "suspend"
        actions = await db.fetch(
            "SELECT action, entity_id FROM audit_log WHERE entity_type = 'report' AND entity_id = ANY($1) ORDER BY id",
            [first["id"], second["id"]],
        )
        assert [(a["action"], a["entity_id"]) for a in actions if a["action"] != "report.filed"] == [
            ("report.dismissed", first["id"]),
            ("report.actioned", second["id"]),
        ]
        events = await db.fetch(
            "SELECT payload->>'status' AS status FROM outbox WHERE topic = 'report.resolved'"
            " AND payload->>'report_id' = ANY($1) ORDER BY id",
            [first["id"], second["id"]],
        )
        assert [e["status"] for e in events] == ["dismissed", "actioned"]
        again = await moderator.patch(f"{REPORTS}/{first['id']}", json={"status": "dismissed"})
        assert again.status_code == 409

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"status": "actioned"}, "action"),
            ({"status": "dismissed", "action": "ban"}, "action"),
            ({"status": "open"}, "status"),
            ({"status": "actioned", "action": "scold"}, "action"),
        ],
    )
    async def test_an_incoherent_resolution_is_422_naming_the_field(
        self,
        reporter: httpx.AsyncClient,
        moderator: httpx.AsyncClient,
        members: tuple[uuid.UUID, ...],
        db: asyncpg.Connection,
        body: dict[str, Any],
        field: str,
    ) -> None:
        report = (await reporter.post(REPORTS, json=report_body(members[0]))).json()
        response = await moderator.patch(f"{REPORTS}/{report['id']}", json=body)
        assert response.status_code == 422
        assert any(field in str(error["loc"]) for error in response.json()["errors"])
        assert await db.fetchval("SELECT status FROM reports WHERE id = $1", uuid.UUID(report["id"])) == "open"

    async def test_unknown_report_is_404(self, moderator: httpx.AsyncClient) -> None:
        assert (await moderator.patch(f"{REPORTS}/{uuid.uuid4()}", json={"status": "dismissed"})).status_code == 404
