"""GET /api/v1/admin/dashboard/stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.dashboard import repository
from backend.domain.dashboard.service import DashboardService
from tests.conftest import one, pairs

STATS = "/api/v1/admin/dashboard/stats"
SEOUL = ZoneInfo("Asia/Seoul")


class TestDashboardStats:
    async def test_counts_are_exact(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        now = datetime.now(SEOUL)
        today = datetime.combine(now.date(), datetime.min.time(), tzinfo=SEOUL)
        expected = await one(
            db, repository.COUNTED_MEMBER_COUNTS, now - timedelta(days=30), now - timedelta(days=7), today
        )
        response = await client.get(STATS)
        assert response.status_code == 200
        body = response.json()
        assert {key: body[key] for key in dict(expected)} == dict(expected)
        assert body["today_signups"] > 0, "the seed signs some members up today"
        assert body["monthly_signups"] >= body["weekly_signups"] >= body["today_signups"] or now.hour < 1
        assert body["degraded"] == []

    @pytest.mark.parametrize("minute", [0, 1, 59])
    async def test_the_30_and_7_days_roll_to_the_requests_time(
        self, app: FastAPI, db: asyncpg.Connection, minute: int
    ) -> None:
        """Windows starting mid-hour (and on the hour) match a count of the rows, to the microsecond."""
        service = DashboardService(app_state(app).database.primary_reads.sessions, SEOUL)
        now = datetime.now(SEOUL).replace(minute=minute, second=30, microsecond=123)
        now = min(now, datetime.now(SEOUL))
        today = datetime.combine(now.date(), datetime.min.time(), tzinfo=SEOUL)
        body = (await service.stats(now)).model_dump()
        month, week = now - timedelta(days=30), now - timedelta(days=7)
        expected = await one(db, repository.COUNTED_MEMBER_COUNTS, month, week, today)
        assert {key: body[key] for key in dict(expected)} == dict(expected)
        # One second more of either window starts one second earlier; the seed spreads sign-ups over the month.
        assert body["monthly_signups"] > 0
        assert body["weekly_signups"] > 0
        assert body["monthly_signups"] >= body["weekly_signups"]

    async def test_queues_count_what_waits_and_age_its_oldest(
        self, client: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        expected = dict(await one(db, repository.COUNTED_QUEUES))
        body = (await client.get(STATS)).json()
        queues = body["queues"]
        for name in ("members", "photos", "documents", "reports"):
            figures = queues[name]
            assert figures["waiting"] == expected[name], name
            oldest = expected[f"{name}_oldest"]
            if oldest is None:
                assert figures["oldest_at"] is None
                assert figures["oldest_age_seconds"] is None
            else:
                assert datetime.fromisoformat(figures["oldest_at"]) == oldest
                age = (datetime.now(UTC) - oldest).total_seconds()
                assert age - 60 <= figures["oldest_age_seconds"] <= age + 1

    async def test_a_deleted_members_photos_and_documents_do_not_wait(
        self, client: httpx.AsyncClient, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        """A soft-deleted member's pending items leave the photo and document queues, and so their waiting counts."""
        member = await db.fetchval(
            """
            SELECT u.id FROM users u
            WHERE u.deleted_at IS NULL
              AND EXISTS (SELECT 1 FROM user_photos p WHERE p.user_id = u.id AND p.status = 'pending'
                          AND p.deleted_at IS NULL)
              AND EXISTS (SELECT 1 FROM user_documents d WHERE d.user_id = u.id AND d.status = 'pending'
                          AND d.deleted_at IS NULL)
            ORDER BY u.created_at LIMIT 1
            """
        )
        assert member is not None, "the seed has members with pending photos and documents"
        before = (await client.get(STATS)).json()["queues"]
        assert (await admin.delete(f"/api/v1/admin/members/{member}")).status_code == 200
        try:
            after = (await client.get(STATS)).json()["queues"]
            expected = dict(await one(db, repository.COUNTED_QUEUES))
            for name in ("photos", "documents"):
                assert after[name]["waiting"] == expected[name] < before[name]["waiting"], name
            pending = dict(await one(db, repository.COUNTED_PENDING_MODERATION))
            assert (await client.get(STATS)).json()["moderation_queue"] == pending
        finally:
            assert (await admin.post(f"/api/v1/admin/members/{member}/restore")).status_code == 200

    async def test_sections(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        body = (await client.get(STATS)).json()
        plans = {p["plan"]: p["active"] for p in body["subscriptions_by_plan"]}
        assert plans == await pairs(db, repository.COUNTED_ACTIVE_PLANS)
        assert body["moderation_queue"] == dict(await one(db, repository.COUNTED_PENDING_MODERATION))
        days = body["signups_per_day"]
        assert len(days) == 30
        assert days[-1]["day"] == datetime.now(SEOUL).date().isoformat()
        assert days[-1]["signups"] == body["today_signups"]

    async def test_a_failing_section_degrades_alone(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def broken(*_: object, **__: object) -> None:
            raise ConnectionResetError("injected fault")

        monkeypatch.setattr(repository, "moderation_queue", broken)
        response = await client.get(STATS)
        assert response.status_code == 200
        body = response.json()
        assert body["moderation_queue"] is None
        assert body["degraded"] == ["moderation_queue"]
        assert body["subscriptions_by_plan"] is not None
        assert body["total_members"] > 0
