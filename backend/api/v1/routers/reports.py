"""Reports about members: filed by the app's backend (role reporter), listed and resolved by operators."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Response, status

from backend.api.deps import ReadSession, ReportServiceDep, RequireModerator, RequireReporter
from backend.api.listing import OLDEST_FIRST, ListQuery, ListSpec, list_query
from backend.domain.report import service as reports
from backend.domain.report.schemas import (
    REPORT_MULTI_VALUE,
    REPORT_SORT_FIELDS,
    ReportCreate,
    ReportFilters,
    ReportGroupRead,
    ReportRead,
    ReportResolve,
)

# Filing has no router guard: a reporter key passes no operator role's check, so its route asks for it alone.
filing_router = APIRouter(tags=["reports"])
router = APIRouter(tags=["reports"])

REPORT_LIST = ListSpec(
    resource="reports",
    filters=ReportFilters,
    multi_value=REPORT_MULTI_VALUE,
    sort_fields=REPORT_SORT_FIELDS,
    default_sort=OLDEST_FIRST,
)
MEMBER_REPORT_LIST = ListSpec(
    resource="reports",
    filters=ReportFilters,
    multi_value=REPORT_MULTI_VALUE,
    sort_fields=REPORT_SORT_FIELDS,
    default_sort=OLDEST_FIRST,
    only=frozenset({"status", "reason_code", "reporter_member_id", "id"}),
)
ReportListing = Annotated[ListQuery[ReportFilters], Depends(list_query(REPORT_LIST))]
MemberReportListing = Annotated[ListQuery[ReportFilters], Depends(list_query(MEMBER_REPORT_LIST))]


def _report(report: ReportRead, status_code: int, **headers: str) -> Response:
    body = orjson.dumps(report.model_dump(mode="json"))
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


@filing_router.post(
    "/reports",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportRead,
    summary="File a report about a member",
    responses={200: {"model": ReportRead, "description": "Counted already: the report this one was merged into"}},
)
async def file_report(data: ReportCreate, _: RequireReporter, service: ReportServiceDep) -> Response:
    """A report from the app: 201 for a new one; 200 with the earlier report when the same reporter reported the
    same member for the same code within the last day (it counts once)."""
    report, created = await service.file(data)
    if not created:
        return _report(report, status.HTTP_200_OK)
    return _report(report, status.HTTP_201_CREATED, Location=f"/api/v1/admin/reports/{report.id}")


@router.get("/reports", response_model=list[ReportRead] | list[ReportGroupRead], summary="List reports")
async def list_reports(session: ReadSession, listing: ReportListing) -> Response:
    """Reports filtered by `status` (open, dismissed, actioned), `reason_code`, members or `id`; oldest first.
    With `group_by=member`, one row per reported member: its count, and its newest matching report."""
    query = reports.build_query(listing.filters, listing.page, listing.after)
    count = listing.count != "none"
    if listing.filters.group_by == "member":
        page = await reports.list_groups(session, query, count=count)
    else:
        page = await reports.list_reports(session, query, count=count)
    return listing.respond(page.items, total=page.total, next_after=page.next_after)


@router.get("/members/{member_id}/reports", response_model=list[ReportRead], summary="A member's reports")
async def list_member_reports(member_id: uuid.UUID, session: ReadSession, listing: MemberReportListing) -> Response:
    """Reports about the member, oldest first, with the list's filters (none for an unknown member)."""
    query = reports.build_query(listing.filters, listing.page, listing.after)
    page = await reports.member_reports(session, member_id, query, count=listing.count != "none")
    return listing.respond(page.items, total=page.total, next_after=page.next_after)


@router.patch("/reports/{report_id}", response_model=ReportRead, summary="Resolve a report")
async def resolve_report(
    report_id: uuid.UUID, data: ReportResolve, _: RequireModerator, service: ReportServiceDep
) -> ReportRead:
    """`dismissed`, or `actioned` with the decision it led to; 409 when it is resolved already, or claimed by
    another operator (naming them; an admin may pass `force`, audited)."""
    return await service.resolve(report_id, data)
