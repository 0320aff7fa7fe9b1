"""All SQL of reports."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from backend.domain.ordering import SortKey
from backend.domain.report.models import Report
from backend.domain.sessions import AnySession, AsyncWriteSession, Row, fetch

_COLUMNS = (
    "r.id, r.reported_member_id, r.reporter_member_id, r.reason_code, r.text, r.status, r.created_at, r.filed_by,"
    " r.resolved_at, r.resolved_by, r.action, r.resolution_note, r.claimed_by, r.claimed_until,"
    " u.name AS member_name, u.status AS member_status"
)


@dataclass(frozen=True)
class ReportQuery:
    """A page of the report list: filters, a total order over (created_at, id), and a keyset position."""

    statuses: Sequence[str] | None = None
    reason_codes: Sequence[str] | None = None
    reported: Sequence[uuid.UUID] | None = None
    reporters: Sequence[uuid.UUID] | None = None
    ids: Sequence[uuid.UUID] | None = None
    order: tuple[SortKey, ...] = (SortKey("created_at", False), SortKey("id", False))
    limit: int = 25
    offset: int = 0
    after: tuple[datetime, uuid.UUID] | None = None


@dataclass
class _Params:
    args: list[Any] = field(default_factory=list)

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def _where(query: ReportQuery, p: _Params) -> list[str]:
    where = []
    if query.statuses:
        where.append(f"r.status = ANY({p(list(query.statuses))}::text[])")
    if query.reason_codes:
        where.append(f"r.reason_code = ANY({p(list(query.reason_codes))}::text[])")
    if query.reported:
        where.append(f"r.reported_member_id = ANY({p(list(query.reported))}::uuid[])")
    if query.reporters:
        where.append(f"r.reporter_member_id = ANY({p(list(query.reporters))}::uuid[])")
    if query.ids:
        where.append(f"r.id = ANY({p(list(query.ids))}::uuid[])")
    return where


def _direction(query: ReportQuery) -> str:
    return "DESC" if query.order[0].descending else "ASC"


def _clause(where: Sequence[str], keyword: str = "WHERE") -> str:
    return f" {keyword} {' AND '.join(where)}" if where else ""


async def list_reports(session: AnySession, query: ReportQuery) -> Sequence[Row]:
    """A page of reports with their member's name and status, in (created_at, id) order."""
    p = _Params()
    where = _where(query, p)
    direction = _direction(query)
    if query.after is not None:
        stamp, last = query.after
        where.append(f"(r.created_at, r.id) {'<' if direction == 'DESC' else '>'} ({p(stamp)}, {p(last)})")
    sql = (
        f"SELECT {_COLUMNS} FROM reports r JOIN users u ON u.id = r.reported_member_id{_clause(where)}"
        f" ORDER BY r.created_at {direction}, r.id {direction} LIMIT {int(query.limit)} OFFSET {int(query.offset)}"
    )
    return await fetch(session, sql, *p.args)


async def count_reports(session: AnySession, query: ReportQuery) -> int:
    p = _Params()
    rows = await fetch(session, f"SELECT count(*) AS n FROM reports r{_clause(_where(query, p))}", *p.args)
    return int(rows[0]["n"])


async def list_groups(session: AnySession, query: ReportQuery) -> Sequence[Row]:
    """A page of reported members: how many reports match, the first and last time, and the newest report's id.

    Groups are ordered by their newest matching report (then the member's id); the keyset position is that pair.
    """
    p = _Params()
    where = _where(query, p)
    direction = _direction(query)
    having = []
    if query.after is not None:
        stamp, last = query.after
        having.append(
            f"(max(r.created_at), r.reported_member_id) {'<' if direction == 'DESC' else '>'} ({p(stamp)}, {p(last)})"
        )
    sql = (
        "SELECT r.reported_member_id AS id, count(*) AS reports, min(r.created_at) AS first_reported_at,"
        " max(r.created_at) AS last_reported_at,"
        " (array_agg(r.id ORDER BY r.created_at DESC, r.id DESC))[1] AS newest_id"
        f" FROM reports r{_clause(where)} GROUP BY r.reported_member_id{_clause(having, 'HAVING')}"
        f" ORDER BY max(r.created_at) {direction}, r.reported_member_id {direction}"
        f" LIMIT {int(query.limit)} OFFSET {int(query.offset)}"
    )
    return await fetch(session, sql, *p.args)


async def count_groups(session: AnySession, query: ReportQuery) -> int:
    p = _Params()
    sql = f"SELECT count(DISTINCT r.reported_member_id) AS n FROM reports r{_clause(_where(query, p))}"
    rows = await fetch(session, sql, *p.args)
    return int(rows[0]["n"])


async def reports_by_id(session: AnySession, ids: Sequence[uuid.UUID]) -> Sequence[Row]:
    """The reports with these ids (with their member's name and status), in no particular order."""
    if not ids:
        return []
    sql = f"SELECT {_COLUMNS} FROM reports r JOIN users u ON u.id = r.reported_member_id WHERE r.id = ANY($1::uuid[])"
    return await fetch(session, sql, list(ids))


async def member_state(session: AsyncWriteSession, member_id: uuid.UUID) -> tuple[bool, bool]:
    """(whether the member exists, whether it is live: not soft-deleted), under a share lock held to the commit:
    an erasure (which locks the row for update) either ran before and is seen, or waits for the report."""
    rows = await fetch(session, "SELECT deleted_at IS NULL AS live FROM users WHERE id = $1 FOR SHARE", member_id)
    return (bool(rows), bool(rows and rows[0]["live"]))


async def insert_once(
    session: AsyncWriteSession,
    *,
    reported: uuid.UUID,
    reporter: uuid.UUID | None,
    reason_code: str,
    text: str | None,
    filed_by: uuid.UUID | None,
) -> uuid.UUID | None:
    """File a report unless the same reporter reported the same member for the same code within a day (the
    exclusion constraint ex_reports_once_a_day decides, also between concurrent filings): its id, or None."""
    rows = await fetch(
        session,
        "INSERT INTO reports (reported_member_id, reporter_member_id, reason_code, text, filed_by)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        reported,
        reporter,
        reason_code,
        text,
        filed_by,
    )
    return rows[0]["id"] if rows else None


async def counted_report(
    session: AnySession, *, reported: uuid.UUID, reporter: uuid.UUID, reason_code: str
) -> uuid.UUID | None:
    """The report that a filing within its day was merged into."""
    rows = await fetch(
        session,
        "SELECT id FROM reports WHERE reporter_member_id = $1 AND reported_member_id = $2 AND reason_code = $3"
        " AND dedupe_window && tstzrange(now(), now() + interval '1 day') ORDER BY created_at LIMIT 1",
        reporter,
        reported,
        reason_code,
    )
    return rows[0]["id"] if rows else None


async def lock_report(session: AsyncWriteSession, report_id: uuid.UUID) -> Report | None:
    """The report, locked for this transaction (SELECT ... FOR UPDATE): a claim taken meanwhile is seen."""
    stmt = select(Report).where(Report.id == report_id).with_for_update()  # type: ignore[arg-type]
    return (await session.execute(stmt)).scalar_one_or_none()


async def save_report(session: AsyncWriteSession, report: Report) -> None:
    session.add(report)
    await session.flush()
