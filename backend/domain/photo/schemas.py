"""What the API reads and returns about member photos: uploads, moderation and order."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AliasChoices, ConfigDict, Field, model_validator

from backend.domain.member.models import PhotoStatus
from backend.domain.schemas import INTEGER_MAX, NOT_BLANK, NOT_NULL, ReadSchema, Schema
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


# What PhotoUpdate._coherent checks, as JSON Schema says it: status or display_order (or both); a reason only with
# a status, and always with a rejection.
_COHERENT_UPDATE: dict[str, Any] = {
    "anyOf": [{"required": ["status"]}, {"required": ["display_order"]}],
    "dependentRequired": {"reason": ["status"]},
    "if": {"properties": {"status": {"const": "rejected"}}, "required": ["status"]},
    "then": {"required": ["reason"]},
}


class PhotoUpdate(Schema):
    """A moderation decision, a new position, or both."""

    model_config = ConfigDict(json_schema_extra=lambda schema, _: schema.update(_COHERENT_UPDATE))

    status: Annotated[Literal["approved", "rejected"] | None, NOT_NULL] = None
    reason: Annotated[Annotated[str, Field(min_length=1, max_length=2000), NOT_BLANK] | None, NOT_NULL] = Field(
        default=None, description="Required to reject"
    )
    display_order: Annotated[int | None, NOT_NULL] = Field(
        default=None, ge=0, le=MAX_DISPLAY_ORDER, description="0-based position among the member's photos"
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.status is None and self.display_order is None:
            raise ValueError("give status, display_order or both")
        if self.status == "rejected" and self.reason is None:
            raise ValueError("a rejection needs a reason")
        if self.status is None and self.reason is not None:
            raise ValueError("reason goes with a status")
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
    size_bytes: int | None
    created_at: datetime
    deleted_at: datetime | None


class PhotoUploadStarted(PhotoDetailRead):
    """The new photo (status `uploading`) and the form that uploads its file straight to S3."""

    upload: UploadForm
