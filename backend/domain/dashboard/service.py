"""The dashboard: exact headline counts plus sections gathered in parallel that degrade alone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend.domain.dashboard import repository
from backend.domain.dashboard.schemas import DailySignups, DashboardStats, ModerationQueue, PlanCount
from backend.domain.sessions import AsyncReadSession, ReadSessionFactory

logger = logging.getLogger(__name__)

SIGNUP_DAYS = 30


class DashboardService:
    """Assembles the dashboard from one counting query and three independent sections."""

    def __init__(self, session: AsyncReadSession, sessions: ReadSessionFactory, tz: ZoneInfo) -> None:
        self.session = session
        self.sessions = sessions
        self.tz = tz

    async def _section(self, load: Callable[[AsyncReadSession], Awaitable[Any]]) -> Any:
        async with self.sessions() as session:
            return await load(session)

    async def stats(self, now: datetime | None = None) -> DashboardStats:
        """Counts since the start of today, of this week (Monday) and of this month, in ADMIN_TIMEZONE."""
        local_now = (now or datetime.now(self.tz)).astimezone(self.tz)
        today = datetime.combine(local_now.date(), time.min, tzinfo=self.tz)
        week = today - timedelta(days=today.weekday())
        month = today.replace(day=1)
        since = today - timedelta(days=SIGNUP_DAYS - 1)

        sections: dict[str, Callable[[AsyncReadSession], Awaitable[Any]]] = {
            "subscriptions_by_plan": repository.active_subscriptions_by_plan,
            "moderation_queue": repository.moderation_queue,
            "signups_per_day": lambda s: repository.signups_per_day(s, since=since, timezone=self.tz.key),
        }
        # Each section on its own session (one connection runs one statement at a time); failures are
        # returned, not raised, so one failing section cannot cancel the others.
        gathered = asyncio.gather(*(self._section(load) for load in sections.values()), return_exceptions=True)
        try:
            counts = await repository.member_counts(self.session, month_start=month, week_start=week, today_start=today)
        except BaseException:
            gathered.cancel()
            raise

        results: dict[str, Any] = {}
        degraded = []
        for name, result in zip(sections, await gathered, strict=True):
            if isinstance(result, Exception):
                logger.error("dashboard section %s failed", name, exc_info=result)
                degraded.append(name)
                result = None
            elif isinstance(result, BaseException):
                raise result
            results[name] = result

        plans = results["subscriptions_by_plan"]
        queue = results["moderation_queue"]
        daily = results["signups_per_day"]
        return DashboardStats(
            **counts,
            subscriptions_by_plan=[PlanCount(plan=p, active=n) for p, n in plans] if plans is not None else None,
            moderation_queue=ModerationQueue(photos_pending=queue[0], documents_pending=queue[1]) if queue else None,
            signups_per_day=_fill_days(daily, since, SIGNUP_DAYS) if daily is not None else None,
            degraded=degraded,
        )


def _fill_days(rows: list[tuple[Any, int]], since: datetime, days: int) -> list[DailySignups]:
    by_day = dict(rows)
    first = since.date()
    return [
        DailySignups(day=day, signups=by_day.get(day, 0)) for day in (first + timedelta(days=i) for i in range(days))
    ]
