"""What the API reads and returns about member documents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, Field

from backend.domain.bulk import BulkIds
from backend.domain.member.models import DocumentStatus, DocumentType
from backend.domain.queue.schemas import ItemDecision, coded_decision_schema
from backend.domain.schemas import INTEGER_MAX, Choice, ReadSchema, Schema
from backend.domain.upload.schemas import UploadForm

DocumentContentType = Literal["application/pdf", "image/jpeg", "image/png"]

# The object key's extension for each accepted type (backend.domain.filetypes.DOCUMENT_TYPES).
EXTENSIONS: dict[str, str] = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


class DocumentUploadCreate(Schema):
    """A document upload to start: its kind, the file's type, and its size when the client knows it."""

    doc_type: Choice[DocumentType]
    content_type: DocumentContentType
    size_bytes: int | None = Field(
        default=None, ge=1, le=INTEGER_MAX, description="Checked against DOCUMENT_MAX_BYTES up front"
    )


class DocumentUpdate(ItemDecision):
    """`{"status": "verified"}`, or `{"status": "rejected", "reason_code": ..., "reason": ...}` (`reason` required
    for `other`); `force` for an admin past another operator's claim."""

    model_config = ItemDecision.model_config | {"json_schema_extra": coded_decision_schema("verified")}

    status: Literal["verified", "rejected"]


class DocumentBulk(DocumentUpdate):
    """One decision for many documents, each decided in a transaction of its own."""

    ids: BulkIds


class DocumentDetailRead(ReadSchema):
    """A document as operators manage it."""

    id: uuid.UUID
    member_id: uuid.UUID = Field(validation_alias=AliasChoices("user_id", "member_id"))
    doc_type: DocumentType
    s3_key: str
    content_type: str | None
    status: DocumentStatus
    reason_code: str | None
    status_reason: str | None
    size_bytes: int | None
    created_at: datetime
    deleted_at: datetime | None
    claimed_by: uuid.UUID | None
    claimed_until: datetime | None


class DocumentUploadStarted(DocumentDetailRead):
    """The new document (status `uploading`) and the form that uploads its file straight to S3."""

    upload: UploadForm
