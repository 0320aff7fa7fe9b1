"""What the queues take and answer: filters, and an item with its presigned URL and its member's summary."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import Field, model_validator

from backend.domain.member.models import DocumentStatus, DocumentType, Gender, MemberStatus, PhotoStatus
from backend.domain.reasons import OTHER_NEEDS_REASON, MaybeReasoned, field_error
from backend.domain.schemas import MAX_FILTER_VALUES, Choice, QueryBool, ReadSchema, Schema, Uuid

REJECTED = "rejected"
FORCE_DESCRIPTION = "Admins only: decide even though another operator holds the item's claim (audited)"


def coded_decision_schema(accepted: str) -> dict[str, Any]:
    """A queue item's decision as JSON Schema says it: a rejection names a reason code (free text for `other`),
    the other decision (`accepted`) takes none."""

    def when(status: str, then: dict[str, Any]) -> dict[str, Any]:
        return {"if": {"properties": {"status": {"const": status}}, "required": ["status"]}, "then": then}

    return {
        "allOf": [
            OTHER_NEEDS_REASON,
            when(REJECTED, {"required": ["reason_code"]}),
            when(accepted, {"not": {"required": ["reason_code"]}}),
        ]
    }


class ItemDecision(MaybeReasoned):
    """The decision on a photo or document: its new `status`, a reason code when it is a rejection (and free text,
    required for `other`; an optional note otherwise), and `force` for an admin past someone else's claim."""

    status: Any  # a subclass names the two decisions
    force: bool = Field(default=False, description=FORCE_DESCRIPTION)

    @model_validator(mode="after")
    def _coded(self) -> Self:
        name = type(self).__name__
        if self.status == REJECTED and self.reason_code is None:
            raise field_error(name, "reason_code", "reason_code_required", "a rejection needs a reason_code")
        if self.status != REJECTED and self.reason_code is not None:
            raise field_error(name, "reason_code", "accepted_coded", f"{self.status} takes no reason_code")
        return self


class QueueFilters(Schema):
    """Filters every queue takes; they combine with AND."""

    member_id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    member_status: list[Choice[MemberStatus]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    gender: list[Choice[Gender]] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="The member's gender"
    )
    id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    include_deleted: QueryBool = Field(
        default=False, description="Also deleted items, and the items of deleted members"
    )


class PhotoQueueFilters(QueueFilters):
    status: list[Choice[PhotoStatus]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)


class DocumentQueueFilters(QueueFilters):
    status: list[Choice[DocumentStatus]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    doc_type: list[Choice[DocumentType]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)


MULTI_VALUE_FILTERS = frozenset({"status", "member_id", "member_status", "gender", "id", "doc_type"})
QUEUE_SORT_FIELDS = frozenset({"created_at"})


class MemberSummary(ReadSchema):
    """Whose item it is."""

    id: uuid.UUID
    name: str
    status: MemberStatus


class QueueItem(ReadSchema):
    """What every queue item shows: its decision state, its claim, the presigned URL of its checked file (none
    while it is uploading) and its member."""

    id: uuid.UUID
    member_id: uuid.UUID
    s3_key: str
    content_type: str | None
    reason_code: str | None
    status_reason: str | None
    size_bytes: int | None
    created_at: datetime
    deleted_at: datetime | None
    claimed_by: uuid.UUID | None
    claimed_until: datetime | None
    url: str | None = Field(description="Presigned GET URL of the checked file; null while uploading")
    member: MemberSummary


class PhotoQueueItem(QueueItem):
    status: PhotoStatus
    display_order: int


class DocumentQueueItem(QueueItem):
    status: DocumentStatus
    doc_type: DocumentType
