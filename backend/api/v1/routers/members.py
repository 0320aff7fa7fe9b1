"""Members: the list with every query style react-admin speaks, the detail, edits, reviews, notes, export."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Response, status
from fastapi.responses import StreamingResponse

from backend.api.bulk import BulkRunnerDep
from backend.api.deps import (
    AdminWriter,
    MemberServiceDep,
    MemberWritersDep,
    ModeratorWriter,
    NoteWriterDep,
    RequireModerator,
    get_member_service,
)
from backend.api.listing import NEWEST_FIRST, OLDEST_FIRST, ListSpec, NoFilters, ServedListQuery, list_query
from backend.domain.bulk import BulkAnswer
from backend.domain.claims.service import check_force
from backend.domain.errors import BadRequest
from backend.domain.member.list_repository import UNCOUNTED_FILTERS, MemberListQuery
from backend.domain.member.models import MemberStatus
from backend.domain.member.schemas import (
    MEMBER_SORT_FIELDS,
    MULTI_VALUE_FILTERS,
    MemberBulk,
    MemberCreate,
    MemberDetailRead,
    MemberFields,
    MemberFilters,
    MemberRead,
    MemberReplace,
    MemberUpdate,
    NoteCreate,
    NoteRead,
    ReviewDecision,
    ReviewReason,
    SuspensionReason,
)
from backend.domain.member.service import DEFAULT_ORDER, MemberService
from backend.domain.member.writes import Decision, MemberWriteService, ReviewAction
from backend.domain.schemas import INTEGER_MAX
from backend.domain.sessions import AsyncWriteSession

router = APIRouter(prefix="/members", tags=["members"])
reviews_router = APIRouter(prefix="/reviews", tags=["reviews"])

MEMBER_LIST = ListSpec(
    resource="members",
    filters=MemberFilters,
    multi_value=MULTI_VALUE_FILTERS,
    sort_fields=MEMBER_SORT_FIELDS,
    default_sort=DEFAULT_ORDER,
    # Totals the counters do not hold are counted up to 10,000: a search's exact total counts every match (0.5 to
    # 4 s for a common name part at 5M), and "has photos" or a birth year range every member it keeps (1 to 3 s at
    # 1M, a console filter click waiting on it).
    estimated_with=UNCOUNTED_FILTERS,
)
# The export takes the list's filters and sort, and answers every matching member: no paging, no total.
MEMBER_EXPORT = replace(MEMBER_LIST, paged=False, counted=False)
REVIEW_LIST = replace(
    MEMBER_LIST,
    only=frozenset({"gender", "q"}),
    estimated_with=frozenset({"q"}),
    sort_fields=frozenset({"created_at"}),
    default_sort=OLDEST_FIRST,
)
NOTE_LIST = ListSpec(
    resource="notes",
    filters=NoFilters,
    sort_fields=frozenset(),
    default_sort=NEWEST_FIRST,
    keyset=False,
    counted=False,
)
# The member lists take the member service with their query: one dependency fewer on the hottest route.
MemberList = ServedListQuery[MemberFilters, MemberService]
MemberListing = Annotated[MemberList, Depends(list_query(MEMBER_LIST, service=get_member_service))]
MemberExport = Annotated[MemberList, Depends(list_query(MEMBER_EXPORT, service=get_member_service))]
ReviewListing = Annotated[MemberList, Depends(list_query(REVIEW_LIST, service=get_member_service))]
NoteListing = Annotated[
    ServedListQuery[NoFilters, MemberService], Depends(list_query(NOTE_LIST, service=get_member_service))
]


def _member_query(listing: MemberList, filters: MemberFilters | None = None) -> MemberListQuery:
    return listing.service.build_query(
        filters if filters is not None else listing.filters,
        listing.order,
        limit=listing.limit,
        offset=listing.offset,
        after=listing.after,
    )


def _json(model: MemberDetailRead | MemberFields, status_code: int = 200, **headers: str) -> Response:
    return Response(
        orjson.dumps(model.model_dump(mode="json")),
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": f'"{model.version}"', **headers},
    )


# RFC 9110: If-Match = "*" / #entity-tag, entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (an empty list: no header).
_ETAG = r'(?:W/)?"[\u0021\u0023-\u007e\u0080-\u00ff]*"'
IF_MATCH_PATTERN = rf"^(?:\*|(?:{_ETAG}(?:[ \t]*,[ \t]*{_ETAG})*)?)$"
_FIRST_TAG = re.compile(r'[ \t]*(?:W/)?"([0-9]{1,10})"(?:[ \t]*,|[ \t]*$)')


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match names (`"3"`, `W/"3"`); None for `*` or no header; -1 (answered 412) for a tag that
    names no version this server could have issued; 400 for a header that is not an entity-tag list."""
    if if_match is None or if_match.strip(" \t") in ("", "*"):
        return None
    if_match = if_match.strip(" \t")  # a server drops the spaces around a header value; ASGI callers may not
    if len(if_match) > IF_MATCH_MAX_LENGTH or not re.fullmatch(IF_MATCH_PATTERN, if_match):
        raise BadRequest('If-Match must be * or entity tags such as "3" (the ETag from GET).', header="If-Match")
    match = _FIRST_TAG.match(if_match)
    version = int(match.group(1)) if match else -1
    return version if 1 <= version <= INTEGER_MAX else -1


IF_MATCH_MAX_LENGTH = 1024
IfMatch = Annotated[
    str | None,
    Header(
        description='The ETag from GET, e.g. "3"; 412 when stale',
        max_length=IF_MATCH_MAX_LENGTH,
        pattern=IF_MATCH_PATTERN,
    ),
]


@router.get("", response_model=list[MemberRead], summary="List members")
async def list_members(listing: MemberListing) -> Response:
    """Members matching the filters, one page, with the total in X-Total-Count and Content-Range."""
    page = await listing.service.list_members(_member_query(listing), listing.count)
    return listing.respond(page.items, total=page.total, next_after=page.next_cursor)


@router.get(
    "/export.csv",
    summary="Export members as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV with a header row"}},
)
async def export_members(listing: MemberExport) -> StreamingResponse:
    """Every member matching the list filters, streamed as CSV in constant memory (formula cells escaped).

    A failure before the first rows is an error answer; one after them ends the stream early (a truncated
    chunked body, which HTTP clients report as an error).
    """
    return StreamingResponse(
        await listing.service.export_csv(_member_query(listing)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="members.csv"'},
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MemberDetailRead, summary="Create a member")
async def create_member(data: MemberCreate, writer: AdminWriter) -> Response:
    """A member with profile (and lifestyle, preference) in one transaction; 409 when the phone is in use."""
    member = await writer.create(data)
    return _json(member, status.HTTP_201_CREATED, Location=f"/api/v1/admin/members/{member.id}")


@router.post("/bulk", response_model=BulkAnswer, summary="Decide many members at once")
async def bulk_decide(
    data: MemberBulk, actor: RequireModerator, writers: MemberWritersDep, runner: BulkRunnerDep
) -> BulkAnswer:
    """approve, reject, suspend or ban up to 500 members, each in a transaction of its own with the rules of the
    single decision: one result per id (`ok`, `conflict`, `not_found`, `claimed`, with the problem the single
    decision would answer) and a summary. With an Idempotency-Key a retry writes nothing twice."""
    decision = _decision(ReviewAction(data.action.value), data)
    check_force(actor, decision.force)

    async def decide(session: AsyncWriteSession, member_id: uuid.UUID) -> None:
        await writers(session).apply(member_id, decision)

    return await runner.run(data.ids, decide)


@router.get("/{member_id}", response_model=MemberDetailRead, summary="Get a member with every relation")
async def get_member(member_id: uuid.UUID, service: MemberServiceDep) -> Response:
    """The member, its relations, and presigned URLs for its photos and documents; ETag from its version."""
    return _json(await service.get_member(member_id))


@router.patch("/{member_id}", response_model=MemberDetailRead, summary="Edit a member")
async def update_member(
    member_id: uuid.UUID, data: MemberUpdate, writer: AdminWriter, if_match: IfMatch = None
) -> Response:
    """Change the given fields; with If-Match, 412 when someone else changed the member first."""
    return _json(await writer.update(member_id, data, expected_version(if_match)))


@router.put("/{member_id}", response_model=MemberDetailRead, summary="Replace a member (react-admin update)")
async def replace_member(
    member_id: uuid.UUID, data: MemberReplace, writer: AdminWriter, if_match: IfMatch = None
) -> Response:
    """The record as GET returned it, edited; `version` in the body works as If-Match."""
    if data.id is not None and data.id != member_id:
        raise BadRequest("The body's id differs from the path's.", field="id")
    return _json(await writer.replace(member_id, data, expected_version(if_match)))


@router.delete("/{member_id}", response_model=MemberFields, summary="Soft-delete a member")
async def delete_member(member_id: uuid.UUID, writer: AdminWriter, if_match: IfMatch = None) -> Response:
    """Hide the member and free its phone; the record is returned; restore undoes it."""
    return _json(await writer.delete(member_id, expected_version(if_match)))


@router.post("/{member_id}/restore", response_model=MemberDetailRead, summary="Undo a soft delete")
async def restore_member(member_id: uuid.UUID, writer: AdminWriter) -> Response:
    """Bring the member back; 409 when a live member took its phone meanwhile."""
    return _json(await writer.restore(member_id))


DecisionBody = ReviewDecision | ReviewReason | SuspensionReason | MemberBulk


def _decision(action: ReviewAction, data: DecisionBody) -> Decision:
    """The decision a body states (the fields it lacks are the decision's defaults)."""
    code, until = getattr(data, "reason_code", None), getattr(data, "until", None)
    return Decision(action, reason_code=code, reason=data.reason, until=until, force=data.force)


async def _decide(
    action: ReviewAction, member_id: uuid.UUID, data: DecisionBody, writer: MemberWriteService, if_match: str | None
) -> Response:
    return _json(await writer.decide(member_id, _decision(action, data), expected_version(if_match)))


@router.post("/{member_id}/approve", response_model=MemberDetailRead, summary="Approve a member")
async def approve_member(
    member_id: uuid.UUID, data: ReviewDecision, writer: ModeratorWriter, if_match: IfMatch = None
) -> Response:
    """pending or suspended -> active, with a note, an audit row and a member.approved event."""
    return await _decide(ReviewAction.approve, member_id, data, writer, if_match)


@router.post("/{member_id}/reject", response_model=MemberDetailRead, summary="Reject a member")
async def reject_member(
    member_id: uuid.UUID, data: ReviewReason, writer: ModeratorWriter, if_match: IfMatch = None
) -> Response:
    """pending -> rejected; a reason code is required (and free text for `other`)."""
    return await _decide(ReviewAction.reject, member_id, data, writer, if_match)


@router.post("/{member_id}/suspend", response_model=MemberDetailRead, summary="Suspend a member")
async def suspend_member(
    member_id: uuid.UUID, data: SuspensionReason, writer: ModeratorWriter, if_match: IfMatch = None
) -> Response:
    """active -> suspended, until lifted or, with `until`, until then (housekeeping lifts it); a reason code is
    required."""
    return await _decide(ReviewAction.suspend, member_id, data, writer, if_match)


@router.post("/{member_id}/ban", response_model=MemberDetailRead, summary="Ban a member")
async def ban_member(
    member_id: uuid.UUID, data: ReviewReason, writer: ModeratorWriter, if_match: IfMatch = None
) -> Response:
    """Any status but banned -> banned, and the member's phone blocked: no member can be created, restored or
    given that phone while the ban stands. A reason code is required."""
    return await _decide(ReviewAction.ban, member_id, data, writer, if_match)


@router.post("/{member_id}/unban", response_model=MemberDetailRead, summary="Lift a ban")
async def unban_member(
    member_id: uuid.UUID, data: ReviewDecision, writer: AdminWriter, if_match: IfMatch = None
) -> Response:
    """banned -> active, and the blocks of the member's bans lifted (admin)."""
    return await _decide(ReviewAction.unban, member_id, data, writer, if_match)


@router.get("/{member_id}/notes", response_model=list[NoteRead], summary="A member's notes")
async def list_notes(member_id: uuid.UUID, listing: NoteListing) -> Response:
    """Operators' notes and review decisions, newest first."""
    notes, total = await listing.service.list_notes(member_id, limit=listing.limit, offset=listing.offset)
    return listing.respond(notes, total=total)


@router.post("/{member_id}/notes", status_code=status.HTTP_201_CREATED, response_model=NoteRead, summary="Write a note")
async def add_note(member_id: uuid.UUID, data: NoteCreate, writer: NoteWriterDep) -> Response:
    """A note about the member, by the calling operator."""
    note = await writer.add_note(member_id, data)  # serialised here: FastAPI would validate the model again first
    return Response(note.model_dump_json(), status_code=status.HTTP_201_CREATED, media_type="application/json")


@reviews_router.get("/pending", response_model=list[MemberRead], summary="The review queue")
async def pending_reviews(listing: ReviewListing) -> Response:
    """Members waiting for review, oldest first; cursor paging via X-Next-Cursor."""
    pending = listing.filters.model_copy(update={"status": [MemberStatus.pending]})
    page = await listing.service.list_members(_member_query(listing, pending), listing.count)
    return listing.respond(page.items, total=page.total, next_after=page.next_cursor)
