"""Data rights as the API shows them: the erasure request and answer, the access log, an issued document URL."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from backend.domain.member.models import DocumentType
from backend.domain.schemas import MAX_FILTER_VALUES, NOT_BLANK_PATTERN, DayOrMoment, ReadSchema, Schema, Uuid


class EraseRequest(Schema):
    reason: str = Field(
        min_length=1,
        max_length=2000,
        pattern=NOT_BLANK_PATTERN,
        description="Why (the request's reference, say); kept in the audit row, so no personal data here",
    )
    confirm: Uuid = Field(description="The member's id once more: an erasure cannot be undone")


class ErasureRead(ReadSchema):
    id: uuid.UUID
    erased_at: datetime
    photos_removed: int = Field(description="Photo rows removed by this request (0 when erased before)")
    documents_removed: int = Field(description="Document rows removed by this request (0 when erased before)")
    already_erased: bool = Field(description="True when an earlier request erased the member: nothing changed")


class AccessRead(ReadSchema):
    id: int
    actor_type: str = Field(description="operator or api_key")
    actor_id: uuid.UUID | None
    document_id: uuid.UUID
    member_id: uuid.UUID
    doc_type: DocumentType
    request_id: str | None
    created_at: datetime


class AccessFilters(Schema):
    member_id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    document_id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    actor: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES, description="Operator or key ids")
    created_from: DayOrMoment | None = Field(default=None, description="Inclusive; a date is a day in ADMIN_TIMEZONE")
    created_to: DayOrMoment | None = Field(default=None, description="Inclusive; a date covers the whole day")


ACCESS_SORT_FIELDS = frozenset({"created_at"})
ACCESS_MULTI_VALUE = frozenset({"member_id", "document_id", "actor"})


class DocumentUrlRead(ReadSchema):
    id: uuid.UUID = Field(description="The document")
    member_id: uuid.UUID
    doc_type: DocumentType
    url: str = Field(description="Presigned GET URL, served as an attachment, for DOCUMENT_URL_TTL_SECONDS")
    expires_in: int = Field(description="Seconds the URL lives")
    access_id: int | None = Field(description="The access-log row this URL wrote (identity documents)")
