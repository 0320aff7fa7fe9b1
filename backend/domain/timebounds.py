"""Date filters: a date means a whole day in the admin time zone; a naive datetime is read in it too."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
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
