"""The project's bases for API-facing schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """Base of request schemas: a field the client may not set is refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ReadSchema(BaseModel):
    """Base of response schemas: built from rows, taking only the fields it declares."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")
