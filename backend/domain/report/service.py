"""Reports: filing (once a day per reporter, member and code), the list and its per-member view, resolving."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.claims import service as claims
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.identity import AuditContext
from backend.domain.ordering import Page, created_uuid_position
from backend.domain.outbox.service import enqueue
from backend.domain.report import repository
from backend.domain.report.models import ReportStatus
from backend.domain.report.repository import ReportQuery
from backend.domain.report.schemas import (
    MemberSummary,
    ReportCreate,
    ReportFilters,
    ReportGroupRead,
    ReportRead,
    ReportResolve,
)
from backend.domain.sessions import AnySession, AsyncWriteSession, Row


def report_of(row: Row) -> ReportRead:
    """A report row (with its member's name and status) as the API shows it."""
    member = MemberSummary(id=row["reported_member_id"], name=row["member_name"], status=row["member_status"])
    return ReportRead.model_validate({**dict(row), "member": member})


def build_query(filters: ReportFilters, page: Page, after: Sequence[Any] | None) -> ReportQuery:
    """The repository query for the API's filters, page and cursor."""
    return ReportQuery(
        statuses=[status.value for status in filters.status] if filters.status else None,
        reason_codes=[code.value for code in filters.reason_code] if filters.reason_code else None,
        reported=filters.reported_member_id,
        reporters=filters.reporter_member_id,
        ids=filters.id,
        order=page.order,
        limit=page.limit,
        offset=page.offset,
        after=created_uuid_position(after),
    )


@dataclass(frozen=True)
class ReportPage:
    items: list[ReportRead] | list[ReportGroupRead]
    total: int | None
    next_after: list[Any] | None


async def list_reports(session: AnySession, query: ReportQuery, *, count: bool) -> ReportPage:
    """A page of reports, the total when asked, and the cursor values of a full page's last row."""
    rows = await repository.list_reports(session, query)
    total = await repository.count_reports(session, query) if count else None
    items = [report_of(row) for row in rows]
    next_after = None
    if items and len(items) == query.limit:
        next_after = [items[-1].created_at.isoformat(), str(items[-1].id)]
    return ReportPage(items, total, next_after)


async def list_groups(session: AnySession, query: ReportQuery, *, count: bool) -> ReportPage:
    """A page of reported members (`group_by=member`), each with its count and newest matching report."""
    rows = await repository.list_groups(session, query)
    total = await repository.count_groups(session, query) if count else None
    newest = {
        row["id"]: report_of(row) for row in await repository.reports_by_id(session, [r["newest_id"] for r in rows])
    }
    items = [
        ReportGroupRead(
            id=row["id"],
            member=newest[row["newest_id"]].member,
            reports=row["reports"],
            first_reported_at=row["first_reported_at"],
            last_reported_at=row["last_reported_at"],
            newest=newest[row["newest_id"]],
        )
        for row in rows
    ]
    next_after = None
    if items and len(items) == query.limit:
        next_after = [items[-1].last_reported_at.isoformat(), str(items[-1].id)]
    return ReportPage(items, total, next_after)


async def member_reports(session: AnySession, member_id: uuid.UUID, query: ReportQuery, *, count: bool) -> ReportPage:
    """A member's reports (soft-deleted members' too): a filter of the report list, so an unknown member has none,
    as it has no audit trail."""
    return await list_reports(session, replace(query, reported=[member_id]), count=count)


class ReportService:
    """Report writes, in the request's transaction with their audit rows and outbox events."""

    def __init__(self, session: AsyncWriteSession, context: AuditContext) -> None:
        self.session = session
        self.context = context
        self.audit = AuditTrail(session, context)

    async def _read(self, report_id: uuid.UUID) -> ReportRead:
        rows = await repository.reports_by_id(self.session, [report_id])
        return report_of(rows[0])

    async def file(self, data: ReportCreate) -> tuple[ReportRead, bool]:
        """File a report: (the report, True), or (the report it counts as, False) when the same reporter reported
        the same member for the same code within the last day. 404 naming the field for an unknown member."""
        _, live = await repository.member_state(self.session, data.reported_member_id)
        if not live:
            raise NotFoundError(f"No member with id {data.reported_member_id}.", field="reported_member_id")
        if (
            data.reporter_member_id is not None
            and not (await repository.member_state(self.session, data.reporter_member_id))[0]
        ):
            raise NotFoundError(f"No member with id {data.reporter_member_id}.", field="reporter_member_id")
        try:
            report_id = await repository.insert_once(
                self.session,
                reported=data.reported_member_id,
                reporter=data.reporter_member_id,
                reason_code=data.reason_code.value,
                text=data.text,
                filed_by=self.context.actor.id,
            )
        except IntegrityError as exc:  # a member erased since the check
            raise NotFoundError("The member is gone.", field="reported_member_id") from exc
        if report_id is None:
            assert data.reporter_member_id is not None  # only a known reporter's reports are merged
            counted = await repository.counted_report(
                self.session,
                reported=data.reported_member_id,
                reporter=data.reporter_member_id,
                reason_code=data.reason_code.value,
            )
            assert counted is not None  # the constraint found it
            return await self._read(counted), False
        report = await self._read(report_id)
        filed = {
            "reported_member_id": data.reported_member_id,
            "reporter_member_id": data.reporter_member_id,
            "reason_code": data.reason_code.value,
        }
        await self.audit.record("report.filed", "report", report_id, changes(None, filed))
        await enqueue(self.session, "report.filed", _event(report))
        return report, True

    async def resolve(self, report_id: uuid.UUID, data: ReportResolve) -> ReportRead:
        """Dismiss an open report, or record the decision it led to; its claim is checked and released."""
        report = await repository.lock_report(self.session, report_id)
        if report is None:
            raise NotFoundError(f"No report with id {report_id}.")
        forced = await claims.check(self.session, report, self.context.actor, force=data.force)
        if report.status != ReportStatus.open.value:
            raise ConflictError(f"The report is {report.status} already.", current_status=report.status)
        report.status = data.status
        report.action = data.action.value if data.action is not None else None
        report.resolution_note = data.note
        report.resolved_by = self.context.actor.id
        report.resolved_at = func.now()  # type: ignore[assignment]
        released = claims.release(report)
        await repository.save_report(self.session, report)
        diff = changes(
            {"status": ReportStatus.open.value, "action": None},
            {"status": data.status, "action": report.action},
        )
        if data.note is not None:
            diff["note"] = {"before": None, "after": data.note}
        if forced:
            diff["claim_overridden"] = claims.overridden(released)
        await self.audit.record(f"report.{data.status}", "report", report.id, diff)
        read = await self._read(report.id)
        await enqueue(self.session, "report.resolved", _event(read))
        return read


def _event(report: ReportRead) -> dict[str, Any]:
    return {
        "report_id": str(report.id),
        "reported_member_id": str(report.reported_member_id),
        "reporter_member_id": str(report.reporter_member_id) if report.reporter_member_id else None,
        "reason_code": report.reason_code.value,
        "status": report.status.value,
        "action": report.action.value if report.action else None,
    }
