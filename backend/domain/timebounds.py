"""Date filters: a date means a whole day in the admin time zone; a naive datetime is read in it too.

Every bound is a UTC datetime between EARLIEST and LATEST, what both Python and PostgreSQL hold: a client may
send year 9999 with a negative offset (past the end once in UTC) or the last day of year 9999 (whose end is
in year 10000), and such a bound lies beyond every stored time, as EARLIEST or LATEST does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def in_utc(moment: datetime, tz: ZoneInfo | None = None) -> datetime:
    """`moment` in UTC (a naive one read in `tz`, or in UTC without one), clamped to EARLIEST..LATEST."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz or UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return EARLIEST if moment.year < 5000 else LATEST


def _plus(moment: datetime, step: timedelta) -> datetime:
    return LATEST if moment > LATEST - step else moment + step


def start_of(value: date | datetime, tz: ZoneInfo) -> datetime:
    """The inclusive lower bound."""
    if isinstance(value, datetime):
        return in_utc(value, tz)
    return in_utc(datetime.combine(value, time.min), tz)


def end_of(value: date | datetime, tz: ZoneInfo) -> datetime:
    """The exclusive upper bound: a date covers its whole day, a datetime is itself included."""
    if isinstance(value, datetime):
        return _plus(in_utc(value, tz), timedelta(microseconds=1))
    if value == date.max:
        return LATEST
    return in_utc(datetime.combine(value + timedelta(days=1), time.min), tz)


def next_utc_midnight(moment: datetime) -> datetime:
    """The first UTC midnight at or after `moment`: where the whole UTC days (counter buckets) begin."""
    start = utc_midnight_before(moment)
    return start if start == moment else _plus(start, timedelta(days=1))


def utc_midnight_before(moment: datetime) -> datetime:
    """The UTC midnight that starts `moment`'s UTC day."""
    return datetime.combine(moment.astimezone(UTC).date(), time.min, tzinfo=UTC)
