"""All SQL of the dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from backend.domain.sessions import AnySession

# One round trip over the trigger-kept member counters. Totals over all time come from member_totals (a few
# dozen rows, whatever the number of members); sign-ups since a moment from signup_hours, a range over its key
# (720 hourly rows for the 30 days). A window starting mid-hour takes the whole UTC hours from the counters and
# counts only its partial first hour row by row, on the created_at index (an hour of sign-ups at most). The
# windows end at the request's time: the current hour's row holds the sign-ups so far.
_MEMBER_COUNTS = text(
    """
    SELECT t.total_members, t.male_count, t.female_count, t.pending_reviews,
           h.monthly + (SELECT count(*) FROM users WHERE deleted_at IS NULL
                        AND created_at >= :month_start AND created_at < :month_hour) AS monthly_signups,
           h.weekly + (SELECT count(*) FROM users WHERE deleted_at IS NULL
                       AND created_at >= :week_start AND created_at < :week_hour) AS weekly_signups,
           h.today + (SELECT count(*) FROM users WHERE deleted_at IS NULL
                      AND created_at >= :today_start AND created_at < :today_hour) AS today_signups
    FROM (SELECT coalesce(sum(n), 0) AS total_members,
                 coalesce(sum(n) FILTER (WHERE gender = 'male'), 0) AS male_count,
                 coalesce(sum(n) FILTER (WHERE gender = 'female'), 0) AS female_count,
                 coalesce(sum(n) FILTER (WHERE status = 'pending'), 0) AS pending_reviews
          FROM member_totals WHERE NOT deleted) AS t,
         (SELECT coalesce(sum(n) FILTER (WHERE hour >= :month_hour), 0) AS monthly,
                 coalesce(sum(n) FILTER (WHERE hour >= :week_hour), 0) AS weekly,
                 coalesce(sum(n) FILTER (WHERE hour >= :today_hour), 0) AS today
          FROM signup_hours
          WHERE hour >= least(CAST(:month_hour AS timestamptz), CAST(:week_hour AS timestamptz),
                              CAST(:today_hour AS timestamptz))) AS h
    """
)


def next_utc_hour(moment: datetime) -> datetime:
    """The first whole UTC hour at or after `moment`: where the hourly counter rows begin."""
    start = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return start if start == moment else start + timedelta(hours=1)


async def member_counts(
    session: AnySession, *, month_start: datetime, week_start: datetime, today_start: datetime
) -> dict[str, int]:
    """The seven headline counts over live members, by name, in one round trip: sign-ups since each start."""
    params: dict[str, object] = {}
    for name, start in (("month", month_start), ("week", week_start), ("today", today_start)):
        params |= {f"{name}_start": start, f"{name}_hour": next_utc_hour(start)}
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
    """Photos and documents of live members awaiting moderation (from the queue counters, as the queues count)."""
    result = await session.execute(
        text(
            """
            SELECT coalesce(sum(n) FILTER (WHERE entity = 'photo'), 0),
                   coalesce(sum(n) FILTER (WHERE entity = 'document'), 0)
            FROM queue_counts WHERE status = 'pending' AND NOT deleted
            """
        )
    )
    photos, documents = result.one()
    return int(photos), int(documents)


def _oldest(table: str, waiting: str) -> str:
    """The oldest waiting item's created_at: the first entry of the unclaimed index, or the oldest claimed one
    (few: the items moderators hold now), whichever is older (migration 0013's two partial indexes)."""
    return (
        f"least((SELECT t.created_at FROM {table} t WHERE {waiting} AND t.claimed_until IS NULL"
        " ORDER BY t.created_at, t.id LIMIT 1),"
        f" (SELECT min(t.created_at) FROM {table} t WHERE {waiting} AND t.claimed_until IS NOT NULL))"
    )


_LIVE_MEMBER = "EXISTS (SELECT 1 FROM users m WHERE m.id = t.user_id AND m.deleted_at IS NULL)"
_PENDING = "t.status = 'pending' AND t.deleted_at IS NULL"
# Each queue's waiting count from the counters, and the age of its oldest item from its index, in one statement.
# Photos and documents wait only while their member is live: queue_counts' `deleted` is the item's or its member's.
_QUEUES = text(
    f"""
    SELECT c.members, c.photos, c.documents, c.reports,
           {_oldest("users", _PENDING)} AS members_oldest,
           {_oldest("user_photos", f"{_PENDING} AND {_LIVE_MEMBER}")} AS photos_oldest,
           {_oldest("user_documents", f"{_PENDING} AND {_LIVE_MEMBER}")} AS documents_oldest,
           {_oldest("reports", "t.status = 'open'")} AS reports_oldest
    FROM (SELECT (SELECT coalesce(sum(n), 0) FROM member_totals WHERE NOT deleted AND status = 'pending') AS members,
                 (SELECT coalesce(sum(n), 0) FROM queue_counts
                  WHERE entity = 'photo' AND status = 'pending' AND NOT deleted) AS photos,
                 (SELECT coalesce(sum(n), 0) FROM queue_counts
                  WHERE entity = 'document' AND status = 'pending' AND NOT deleted) AS documents,
                 (SELECT coalesce(sum(n), 0) FROM moderation_counts
                  WHERE entity = 'report' AND status = 'open') AS reports) AS c
    """
)
QUEUE_NAMES = ("members", "photos", "documents", "reports")


async def queues(session: AnySession) -> dict[str, tuple[int, datetime | None]]:
    """For each moderation queue, how many items wait and when the oldest of them entered it."""
    row = (await session.execute(_QUEUES)).one()._mapping
    return {name: (int(row[name]), row[f"{name}_oldest"]) for name in QUEUE_NAMES}


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

# $1, $2, $3: the starts of the 30 and 7 days to now and of today (timestamptz).
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
COUNTED_QUEUES = """
SELECT (SELECT count(*) FROM users WHERE status = 'pending' AND deleted_at IS NULL) AS members,
       (SELECT count(*) FROM user_photos p JOIN users u ON u.id = p.user_id
        WHERE p.status = 'pending' AND p.deleted_at IS NULL AND u.deleted_at IS NULL) AS photos,
       (SELECT count(*) FROM user_documents d JOIN users u ON u.id = d.user_id
        WHERE d.status = 'pending' AND d.deleted_at IS NULL AND u.deleted_at IS NULL) AS documents,
       (SELECT count(*) FROM reports WHERE status = 'open') AS reports,
       (SELECT min(created_at) FROM users WHERE status = 'pending' AND deleted_at IS NULL) AS members_oldest,
       (SELECT min(p.created_at) FROM user_photos p JOIN users u ON u.id = p.user_id
        WHERE p.status = 'pending' AND p.deleted_at IS NULL AND u.deleted_at IS NULL) AS photos_oldest,
       (SELECT min(d.created_at) FROM user_documents d JOIN users u ON u.id = d.user_id
        WHERE d.status = 'pending' AND d.deleted_at IS NULL AND u.deleted_at IS NULL) AS documents_oldest,
       (SELECT min(created_at) FROM reports WHERE status = 'open') AS reports_oldest
"""
COUNTED_PENDING_MODERATION = """
SELECT (SELECT count(*) FROM user_photos p JOIN users u ON u.id = p.user_id
        WHERE p.status = 'pending' AND p.deleted_at IS NULL AND u.deleted_at IS NULL) AS photos_pending,
       (SELECT count(*) FROM user_documents d JOIN users u ON u.id = d.user_id
        WHERE d.status = 'pending' AND d.deleted_at IS NULL AND u.deleted_at IS NULL) AS documents_pending
"""
