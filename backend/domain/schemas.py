"""The project's bases for API-facing schemas."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# JSON Schema keyword marking a response field that carries a secret (an API key, a token): see `shown_once`.
SHOWN_ONCE = "x-shown-once"


class Schema(BaseModel):
    """Base of request schemas: a field the client may not set is refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ReadSchema(BaseModel):
    """Base of response schemas: built from rows, taking only the fields it declares."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")


def shown_once(description: str) -> Any:
    """A response field that carries a secret: sent in the answer that made it and never stored anywhere.

    The answer kept for an Idempotency-Key is stored with such fields null (and says why), so a retry gets the
    record but never the secret again. Declare the field `str | None`: a replay answers null.
    """
    return Field(
        description=f"{description}. Shown in this answer only and never stored: null when the answer is a replay"
        " (Idempotent-Replayed: true)",
        json_schema_extra={SHOWN_ONCE: True},
    )


def shown_once_fields(model: object) -> tuple[str, ...]:
    """The JSON names of the `shown_once` fields of a response model (or of a list of one)."""
    if typing.get_origin(model) in (list, tuple):
        model = next(iter(typing.get_args(model)), None)
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        return ()
    return tuple(
        field.serialization_alias or field.alias or name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get(SHOWN_ONCE) is True
    )
