"""Date filters: a date means a whole day in the admin time zone; a naive datetime is read in it too."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def start_of(value: date | datetime, tz: ZoneInfo) -> datetime:
    """The inclusive lower bound."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return datetime.combine(value, time.min, tzinfo=tz)


def end_of(value: date | datetime, tz: ZoneInfo) -> datetime:
    """The exclusive upper bound: a date covers its whole day, a datetime is itself included."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)) + timedelta(microseconds=1)
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=tz)


def next_utc_midnight(moment: datetime) -> datetime:
    """The first UTC midnight at or after `moment`: where the whole UTC days (counter buckets) begin."""
    start = utc_midnight_before(moment)
    return start if start == moment else start + timedelta(days=1)


def utc_midnight_before(moment: datetime) -> datetime:
    """The UTC midnight that starts `moment`'s UTC day."""
    return datetime.combine(moment.astimezone(UTC).date(), time.min, tzinfo=UTC)
