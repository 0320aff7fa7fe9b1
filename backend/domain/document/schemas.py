"""What the API reads and returns about member documents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AliasChoices, Field

from backend.domain.member.models import DocumentStatus, DocumentType
from backend.domain.reasons import Reasoned
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


class DocumentVerify(Schema):
    """The document is what it claims to be."""

    status: Literal["verified"]


class DocumentReject(Reasoned):
    """The document is refused, with a reason code (and free text, required for `other`)."""

    status: Literal["rejected"]


DocumentDecision = Annotated[DocumentVerify | DocumentReject, Field(discriminator="status")]


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
