"""How lists are ordered, shared by the API's query parsing and the repositories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.domain.errors import BadRequest


@dataclass(frozen=True)
class SortKey:
    """One sort field and its direction."""

    field: str
    descending: bool


def created_id_position(values: Sequence[Any] | None) -> tuple[datetime, int] | None:
    """A keyset position (created_at, id) from decoded cursor values; 400 naming `cursor` when malformed."""
    if values is None:
        return None
    try:
        stamp, row_id = values
        return datetime.fromisoformat(str(stamp)), int(str(row_id))
    except (TypeError, ValueError) as exc:
        raise BadRequest("The cursor is not valid for this list.", parameter="cursor") from exc
