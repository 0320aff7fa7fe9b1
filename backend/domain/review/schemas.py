"""Taking the next item of a moderation queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from backend.domain.member.models import DocumentStatus, DocumentType, PhotoStatus
from backend.domain.report.schemas import MemberSummary, ReportRead
from backend.domain.schemas import Choice, ReadSchema, Schema, Uuid


class Queue(StrEnum):
    members = "members"  # pending members, oldest sign-up first
    photos = "photos"  # pending photos of live members, oldest upload first
    documents = "documents"  # pending documents of live members, oldest first
    reports = "reports"  # open reports, oldest first (one report per claim)


MAX_EXCLUDED = 200


class ClaimRequest(Schema):
    queue: Choice[Queue]
    exclude: list[Uuid] = Field(
        default_factory=list,
        max_length=MAX_EXCLUDED,
        description="Items the caller skipped in this visit (and released): never handed to it again here",
    )


class ReleaseRequest(Schema):
    queue: Choice[Queue]
    id: Uuid = Field(description="The claimed item's id: a member's, photo's, document's or report's")


class ClaimedPhoto(ReadSchema):
    id: uuid.UUID
    status: PhotoStatus
    content_type: str | None
    display_order: int
    created_at: datetime
    url: str = Field(description="Presigned GET URL")


class ClaimedDocument(ReadSchema):
    id: uuid.UUID
    doc_type: DocumentType
    status: DocumentStatus
    created_at: datetime
    url: str = Field(description="Presigned GET URL")


class ClaimedItem(ReadSchema):
    """The item now the caller's until `claimed_until`: its queue and id, its member, and the item itself
    (`photo`, `document` or `report`; a member is the item of the members queue)."""

    queue: Queue
    id: uuid.UUID = Field(description="The item's id: a member's, photo's, document's or report's")
    claimed_by: uuid.UUID
    claimed_until: datetime
    waiting_since: datetime = Field(description="When the item entered its queue (its created_at)")
    member: MemberSummary
    photo: ClaimedPhoto | None = None
    document: ClaimedDocument | None = None
    report: ReportRead | None = None
