"""All SQL of the dashboard."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text

from backend.domain.sessions import AnySession
from backend.domain.timebounds import next_utc_midnight

# One round trip over the trigger-kept member counters. Totals over all time come from member_totals (a few
# dozen rows, whatever the number of members); sign-ups since a day from member_counts, a range over the leading
# key column (a month of day rows, not all of them). A sign-up window starting mid-day (in the admin's time
# zone) takes whole UTC days from the counters and counts only the partial first day row by row, on the
# created_at index. The week may start in the previous month: the day range starts at the earlier of the two.
_MEMBER_COUNTS = text(
    """
    SELECT t.total_members, t.male_count, t.female_count, t.pending_reviews,
           d.monthly + (SELECT count(*) FROM users WHERE deleted_at IS NULL
                        AND created_at >= :month_start AND created_at < :month_day_start) AS monthly_signups,
           d.weekly + (SELECT count(*) FROM users WHERE deleted_at IS NULL
                       AND created_at >= :week_start AND created_at < :week_day_start) AS weekly_signups,
           d.today + (SELECT count(*) FROM users WHERE deleted_at IS NULL
                      AND created_at >= :today_start AND created_at < :today_day_start) AS today_signups
    FROM (SELECT coalesce(sum(n), 0) AS total_members,
                 coalesce(sum(n) FILTER (WHERE gender = 'male'), 0) AS male_count,
                 coalesce(sum(n) FILTER (WHERE gender = 'female'), 0) AS female_count,
                 coalesce(sum(n) FILTER (WHERE status = 'pending'), 0) AS pending_reviews
          FROM member_totals WHERE NOT deleted) AS t,
         (SELECT coalesce(sum(n) FILTER (WHERE day >= :month_day), 0) AS monthly,
                 coalesce(sum(n) FILTER (WHERE day >= :week_day), 0) AS weekly,
                 coalesce(sum(n) FILTER (WHERE day >= :today_day), 0) AS today
          FROM member_counts
          WHERE day >= least(CAST(:month_day AS date), CAST(:week_day AS date), CAST(:today_day AS date))
            AND NOT deleted) AS d
    """
)


async def member_counts(
    session: AnySession, *, month_start: datetime, week_start: datetime, today_start: datetime
) -> dict[str, int]:
    """The seven headline counts over live members, by name, in one round trip."""
    params: dict[str, object] = {}
    for name, start in (("month", month_start), ("week", week_start), ("today", today_start)):
        whole = next_utc_midnight(start)
        params |= {f"{name}_start": start, f"{name}_day_start": whole, f"{name}_day": whole.date()}
    row = (await session.execute(_MEMBER_COUNTS, params)).one()
    return {key: int(value) for key, value in row._mapping.items()}


async def active_subscriptions_by_plan(session: AnySession) -> list[tuple[str, int]]:
    """Active subscriptions of live members per plan (from the member totals)."""
    result = await session.execute(
        text(
            """
            SELECT plan, sum(n) FROM member_totals
            WHERE NOT deleted AND plan <> ''
            GROUP BY plan HAVING sum(n) > 0 ORDER BY plan
            """
        )
    )
    return [(plan, int(n)) for plan, n in result]


async def moderation_queue(session: AnySession) -> tuple[int, int]:
    """Live photos and documents awaiting moderation (from the moderation counters)."""
    result = await session.execute(
        text(
            """
            SELECT coalesce(sum(n) FILTER (WHERE entity = 'photo'), 0),
                   coalesce(sum(n) FILTER (WHERE entity = 'document'), 0)
            FROM moderation_counts WHERE status = 'pending'
            """
        )
    )
    photos, documents = result.one()
    return int(photos), int(documents)


async def signups_per_day(session: AnySession, *, since: datetime, timezone: str) -> list[tuple[date, int]]:
    """Sign-ups of live members per calendar day in `timezone`, from `since` on.

    From the hourly counters when the zone's days start on whole UTC hours (nearly all zones), else by
    counting the members.
    """
    offset = since.utcoffset()
    whole_hours = offset is not None and offset.total_seconds() % 3600 == 0
    source = (
        "SELECT (hour AT TIME ZONE :tz)::date AS day, sum(n) FROM signup_hours WHERE hour >= :since"
        if whole_hours
        else "SELECT (created_at AT TIME ZONE :tz)::date AS day, count(*) FROM users"
        " WHERE created_at >= :since AND deleted_at IS NULL"
    )
    result = await session.execute(text(f"{source} GROUP BY 1 ORDER BY 1"), {"since": since, "tz": timezone})
    return [(day, int(n)) for day, n in result]


# What the counters must equal -------------------------------------------------------------------------------------
# The same numbers counted from the rows, with asyncpg's $n parameters. The app never runs these (a count over a
# million members is what the counters avoid: docs/decisions.md, "Counters instead of counting"); the tests and
# `make bench` check the dashboard against them, and bench's baseline serves them as its floor.

# $1, $2, $3: the starts of this month, week and day (timestamptz).
COUNTED_MEMBER_COUNTS = """
SELECT count(*) AS total_members,
       count(*) FILTER (WHERE created_at >= $1) AS monthly_signups,
       count(*) FILTER (WHERE created_at >= $2) AS weekly_signups,
       count(*) FILTER (WHERE created_at >= $3) AS today_signups,
       count(*) FILTER (WHERE gender = 'male') AS male_count,
       count(*) FILTER (WHERE gender = 'female') AS female_count,
       count(*) FILTER (WHERE status = 'pending') AS pending_reviews
FROM users
WHERE deleted_at IS NULL
"""
COUNTED_ACTIVE_PLANS = """
SELECT s.plan, count(*) FROM user_subscriptions s JOIN users u ON u.id = s.id
WHERE s.status = 'active' AND u.deleted_at IS NULL
GROUP BY s.plan ORDER BY s.plan
"""
COUNTED_PENDING_MODERATION = """
SELECT (SELECT count(*) FROM user_photos WHERE status = 'pending' AND deleted_at IS NULL) AS photos_pending,
       (SELECT count(*) FROM user_documents WHERE status = 'pending' AND deleted_at IS NULL) AS documents_pending
"""
