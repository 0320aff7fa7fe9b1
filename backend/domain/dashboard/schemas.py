"""The dashboard's answer."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from backend.domain.schemas import ReadSchema


class PlanCount(ReadSchema):
    plan: str
    active: int


class ModerationQueue(ReadSchema):
    photos_pending: int = Field(description="Pending photos of live members (a deleted member's items wait for none)")
    documents_pending: int = Field(description="Pending documents of live members")


class QueueFigures(ReadSchema):
    waiting: int = Field(description="Items waiting for a decision, claimed or not")
    oldest_at: datetime | None = Field(description="When the oldest of them entered the queue")
    oldest_age_seconds: int | None = Field(description="How long it has waited, at the request's time")


class Queues(ReadSchema):
    """Each moderation queue (as POST /reviews/next hands them out): what waits, and for how long."""

    members: QueueFigures = Field(description="Members pending review")
    photos: QueueFigures = Field(description="Pending photos (the oldest among live members')")
    documents: QueueFigures = Field(description="Pending documents (the oldest among live members')")
    reports: QueueFigures = Field(description="Open reports")


class DailySignups(ReadSchema):
    day: date
    signups: int


class DashboardStats(ReadSchema):
    """Exact member counts, plus sections that come back null (and named in `degraded`) when they fail."""

    total_members: int
    monthly_signups: int = Field(description="Sign-ups in the 30 days up to the request's time")
    weekly_signups: int = Field(description="Sign-ups in the 7 days up to the request's time")
    today_signups: int = Field(description="Sign-ups since midnight in ADMIN_TIMEZONE")
    male_count: int
    female_count: int
    pending_reviews: int
    subscriptions_by_plan: list[PlanCount] | None
    moderation_queue: ModerationQueue | None
    queues: Queues | None
    signups_per_day: list[DailySignups] | None
    degraded: list[str]
