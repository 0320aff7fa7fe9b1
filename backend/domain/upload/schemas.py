"""What the API returns about an upload under way."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from backend.domain.schemas import ReadSchema


class UploadForm(ReadSchema):
    """A presigned POST: send `fields` and then the file as multipart/form-data to `url`."""

    url: str
    fields: dict[str, str] = Field(description="Form fields to send as they are, before the file part")
    file_field: Literal["file"] = "file"
    expires_at: datetime
    max_bytes: int
