"""What the API reads and returns about member photos: uploads, moderation and order."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AliasChoices, Field, model_validator

from backend.domain.bulk import BulkIds
from backend.domain.member.models import PhotoStatus
from backend.domain.queue.schemas import ItemDecision, coded_decision_schema
from backend.domain.reasons import OTHER_NEEDS_REASON, MaybeReasoned, ReasonCode, field_error
from backend.domain.schemas import INTEGER_MAX, NOT_NULL, ReadSchema, Schema
from backend.domain.upload.schemas import UploadForm

PhotoContentType = Literal["image/jpeg", "image/png", "image/webp"]

# The object key's extension for each accepted type.
EXTENSIONS: dict[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

MAX_DISPLAY_ORDER = 32_767  # the column is a smallint


class PhotoUploadCreate(Schema):
    """An upload to start: the file's type, and its size when the client knows it."""

    content_type: PhotoContentType
    size_bytes: int | None = Field(
        default=None, ge=1, le=INTEGER_MAX, description="Checked against PHOTO_MAX_BYTES up front"
    )


# What PhotoUpdate._coherent checks, as JSON Schema says it: status or display_order (or both); a reason and a reason
# code only with a status; a rejection with a reason code, an approval without one; `other` with a reason.
_COHERENT_UPDATE: dict[str, Any] = {
    "anyOf": [{"required": ["status"]}, {"required": ["display_order"]}],
    "dependentRequired": {"reason": ["status"], "reason_code": ["status"]},
    "allOf": [
        OTHER_NEEDS_REASON,
        {
            "if": {"properties": {"status": {"const": "rejected"}}, "required": ["status"]},
            "then": {"required": ["reason_code"]},
        },
        {
            "if": {"properties": {"status": {"const": "approved"}}, "required": ["status"]},
            "then": {"not": {"required": ["reason_code"]}},
        },
    ],
}


class PhotoUpdate(MaybeReasoned):
    """A moderation decision, a new position, or both. A rejection names a reason code (and free text for
    `other`); an approval takes an optional note as `reason`."""

    model_config = MaybeReasoned.model_config | {"json_schema_extra": lambda schema, _: schema.update(_COHERENT_UPDATE)}

    status: Annotated[Literal["approved", "rejected"] | None, NOT_NULL] = None
    display_order: Annotated[int | None, NOT_NULL] = Field(
        default=None, ge=0, le=MAX_DISPLAY_ORDER, description="0-based position among the member's photos"
    )
    force: bool = Field(
        default=False, description="Admins only: decide even though another operator holds the photo's claim"
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.status is None and self.display_order is None:
            raise ValueError("give status, display_order or both")
        if self.status is None and (self.reason is not None or self.reason_code is not None):
            field = "reason_code" if self.reason_code is not None else "reason"
            raise field_error("PhotoUpdate", field, "without_status", f"{field} goes with a status")
        if self.status == "rejected" and self.reason_code is None:
            raise field_error("PhotoUpdate", "reason_code", "reason_code_required", "a rejection needs a reason_code")
        if self.status == "approved" and self.reason_code is not None:
            raise field_error("PhotoUpdate", "reason_code", "approve_coded", "an approval takes no reason_code")
        return self


class PhotoDetailRead(ReadSchema):
    """A photo as operators manage it."""

    id: uuid.UUID
    member_id: uuid.UUID = Field(validation_alias=AliasChoices("user_id", "member_id"))
    s3_key: str
    content_type: str | None
    display_order: int
    status: PhotoStatus
    status_reason: str | None
    reason_code: ReasonCode | None = Field(description="The reason code of a rejection")
    size_bytes: int | None
    created_at: datetime
    deleted_at: datetime | None


class PhotoUploadStarted(PhotoDetailRead):
    """The new photo (status `uploading`) and the form that uploads its file straight to S3."""

    upload: UploadForm


class PhotoBulk(ItemDecision):
    """One decision for many photos: approved, or rejected with a reason code; each in a transaction of its own."""

    model_config = ItemDecision.model_config | {"json_schema_extra": coded_decision_schema("approved")}

    status: Literal["approved", "rejected"]
    ids: BulkIds

    def decision(self) -> PhotoUpdate:
        """The single decision each photo gets."""
        return PhotoUpdate.model_validate(
            self.model_dump(include={"status", "reason_code", "reason", "force"}, exclude_none=True)
        )
