"""GET /api/v1/admin/dashboard/stats."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from backend.domain.dashboard import repository
from tests.conftest import one, pairs

STATS = "/api/v1/admin/dashboard/stats"
SEOUL = ZoneInfo("Asia/Seoul")


class TestDashboardStats:
    async def test_counts_are_exact(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        today = datetime.combine(datetime.now(SEOUL).date(), datetime.min.time(), tzinfo=SEOUL)
        week = today - timedelta(days=today.weekday())
        month = today.replace(day=1)
        expected = await one(db, repository.COUNTED_MEMBER_COUNTS, month, week, today)
        response = await client.get(STATS)
        assert response.status_code == 200
        body = response.json()
        assert {key: body[key] for key in dict(expected)} == dict(expected)
        assert body["today_signups"] > 0, "the seed signs some members up today"
        assert body["degraded"] == []

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
