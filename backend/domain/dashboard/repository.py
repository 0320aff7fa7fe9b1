"""All SQL of the dashboard."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text

from backend.domain.sessions import AnySession

# One scan with FILTERs instead of seven queries; the thresholds are bound parameters (an inline
# `now() - interval` made the planner's job much slower, see PITFALLS.md).
_MEMBER_COUNTS = text(
    """
    SELECT count(*) AS total_members,
           count(*) FILTER (WHERE created_at >= :month_start) AS monthly_signups,
           count(*) FILTER (WHERE created_at >= :week_start) AS weekly_signups,
           count(*) FILTER (WHERE created_at >= :today_start) AS today_signups,
           count(*) FILTER (WHERE gender = 'male') AS male_count,
           count(*) FILTER (WHERE gender = 'female') AS female_count,
           count(*) FILTER (WHERE status = 'pending') AS pending_reviews
    FROM users
    WHERE deleted_at IS NULL
    """
)


async def member_counts(
    session: AnySession, *, month_start: datetime, week_start: datetime, today_start: datetime
) -> dict[str, int]:
    """The seven headline counts over live members, by name, in one round trip."""
    row = (
        await session.execute(
            _MEMBER_COUNTS, {"month_start": month_start, "week_start": week_start, "today_start": today_start}
        )
    ).one()
    return dict(row._mapping)


async def active_subscriptions_by_plan(session: AnySession) -> list[tuple[str, int]]:
    """Active subscriptions of live members per plan."""
    result = await session.execute(
        text(
            """
            SELECT s.plan, count(*) FROM user_subscriptions s JOIN users u ON u.id = s.id
            WHERE s.status = 'active' AND u.deleted_at IS NULL
            GROUP BY s.plan ORDER BY s.plan
            """
        )
    )
    return [(plan, int(n)) for plan, n in result]


async def moderation_queue(session: AnySession) -> tuple[int, int]:
    """Photos and documents awaiting moderation."""
    result = await session.execute(
        text(
            """
            SELECT (SELECT count(*) FROM user_photos WHERE status = 'pending' AND deleted_at IS NULL),
                   (SELECT count(*) FROM user_documents WHERE status = 'pending' AND deleted_at IS NULL)
            """
        )
    )
    photos, documents = result.one()
    return int(photos), int(documents)


async def signups_per_day(session: AnySession, *, since: datetime, timezone: str) -> list[tuple[date, int]]:
    """Sign-ups of live members per calendar day in `timezone`, from `since` on."""
    result = await session.execute(
        text(
            """
            SELECT (created_at AT TIME ZONE :tz)::date AS day, count(*)
            FROM users WHERE created_at >= :since AND deleted_at IS NULL
            GROUP BY 1 ORDER BY 1
            """
        ),
        {"since": since, "tz": timezone},
    )
    return [(day, int(n)) for day, n in result]
