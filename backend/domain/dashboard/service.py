"""The dashboard: exact headline counts plus sections that degrade alone."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend.domain.dashboard import repository
from backend.domain.dashboard.schemas import (
    DailySignups,
    DashboardStats,
    ModerationQueue,
    PlanCount,
    QueueFigures,
    Queues,
)
from backend.domain.sessions import AsyncReadSession, ReadSessionFactory

logger = logging.getLogger(__name__)

SIGNUP_DAYS = 30
MONTH_DAYS = 30  # monthly_signups: the 30 days up to now
WEEK_DAYS = 7


class DashboardService:
    """Assembles the dashboard from one counting query and four independent sections (the queues among them), one
    statement after another on one session (docs/decisions.md: "The dashboard's sections one after another")."""

    def __init__(self, sessions: ReadSessionFactory, tz: ZoneInfo) -> None:
        self.sessions = sessions
        self.tz = tz

    async def stats(self, now: datetime | None = None) -> DashboardStats:
        """Sign-ups in the 30 and the 7 days up to now (rolling), and since midnight in ADMIN_TIMEZONE."""
        local_now = (now or datetime.now(self.tz)).astimezone(self.tz)
        today = datetime.combine(local_now.date(), time.min, tzinfo=self.tz)
        week = local_now - timedelta(days=WEEK_DAYS)
        month = local_now - timedelta(days=MONTH_DAYS)
        since = today - timedelta(days=SIGNUP_DAYS - 1)

        sections: dict[str, Callable[[AsyncReadSession], Awaitable[Any]]] = {
            "subscriptions_by_plan": repository.active_subscriptions_by_plan,
            "moderation_queue": repository.moderation_queue,
            "queues": repository.queues,
            "signups_per_day": lambda s: repository.signups_per_day(s, since=since, timezone=self.tz.key),
        }
        results: dict[str, Any] = {}
        degraded = []
        async with self.sessions() as session:
            counts = await repository.member_counts(session, month_start=month, week_start=week, today_start=today)
            for name, load in sections.items():
                try:
                    results[name] = await load(session)
                except Exception:  # one section failing cannot sink the rest
                    logger.exception("dashboard section %s failed", name)
                    degraded.append(name)
                    results[name] = None

        plans = results["subscriptions_by_plan"]
        queue = results["moderation_queue"]
        daily = results["signups_per_day"]
        waiting = results["queues"]
        return DashboardStats(
            **counts,
            subscriptions_by_plan=[PlanCount(plan=p, active=n) for p, n in plans] if plans is not None else None,
            moderation_queue=ModerationQueue(photos_pending=queue[0], documents_pending=queue[1]) if queue else None,
            queues=_queues(waiting, local_now) if waiting is not None else None,
            signups_per_day=_fill_days(daily, since, SIGNUP_DAYS) if daily is not None else None,
            degraded=degraded,
        )


def _queues(figures: dict[str, tuple[int, datetime | None]], now: datetime) -> Queues:
    def one(waiting: int, oldest: datetime | None) -> QueueFigures:
        age = max(0, int((now - oldest).total_seconds())) if oldest is not None else None
        return QueueFigures(waiting=waiting, oldest_at=oldest, oldest_age_seconds=age)

    return Queues(**{name: one(*values) for name, values in figures.items()})


def _fill_days(rows: list[tuple[Any, int]], since: datetime, days: int) -> list[DailySignups]:
    by_day = dict(rows)
    first = since.date()
    return [
        DailySignups(day=day, signups=by_day.get(day, 0)) for day in (first + timedelta(days=i) for i in range(days))
    ]
