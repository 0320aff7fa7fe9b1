"""The dashboard's answer."""

from __future__ import annotations

from datetime import date

from backend.domain.schemas import ReadSchema


class PlanCount(ReadSchema):
    plan: str
    active: int


class ModerationQueue(ReadSchema):
    photos_pending: int
    documents_pending: int


class DailySignups(ReadSchema):
    day: date
    signups: int


class DashboardStats(ReadSchema):
    """Exact member counts, plus sections that come back null (and named in `degraded`) when they fail."""

    total_members: int
    monthly_signups: int
    weekly_signups: int
    today_signups: int
    male_count: int
    female_count: int
    pending_reviews: int
    subscriptions_by_plan: list[PlanCount] | None
    moderation_queue: ModerationQueue | None
    signups_per_day: list[DailySignups] | None
    degraded: list[str]
