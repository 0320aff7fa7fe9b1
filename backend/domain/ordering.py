"""How lists are ordered, shared by the API's query parsing and the repositories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.domain.errors import BadRequest
from backend.domain.timebounds import in_utc

BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True)
class SortKey:
    """One sort field and its direction."""

    field: str
    descending: bool


@dataclass(frozen=True)
class Page:
    """Which rows of a list to answer: in what total order, how many from where, and whether to count them all."""

    order: tuple[SortKey, ...]
    limit: int
    offset: int = 0
    count: bool = True


def total_order(order: Sequence[SortKey], default: Sequence[SortKey]) -> tuple[SortKey, ...]:
    """The requested order (or `default`) with `id` last, so that no two rows tie: keyset paging is then exact.

    Without an `id` key of its own, `id` runs the way of the key before it.
    """
    keys = [key for key in (order or default) if key.field != "id"]
    id_key = next((key for key in order if key.field == "id"), None)
    last_descending = keys[-1].descending if keys else False
    return (*keys, id_key or SortKey("id", descending=last_descending))


def created_id_position(values: Sequence[Any] | None) -> tuple[datetime, int] | None:
    """A keyset position (created_at, id: a bigint) from decoded cursor values; 400 naming `cursor` when malformed."""
    if values is None:
        return None
    try:
        stamp, row_id = values
        moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        if moment is None or moment.tzinfo is None:
            raise ValueError("not an aware timestamp")
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id <= BIGINT_MAX:
            raise ValueError("not a bigint id")
        return in_utc(moment), row_id
    except (TypeError, ValueError) as exc:
        raise BadRequest("The cursor is not valid for this list.", parameter="cursor") from exc


def created_uuid_position(values: Sequence[Any] | None) -> tuple[datetime, uuid.UUID] | None:
    """A keyset position (created_at, id: a UUID) from decoded cursor values; 400 naming `cursor` when malformed."""
    if values is None:
        return None
    try:
        stamp, row_id = values
        moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        if moment is None or moment.tzinfo is None:
            raise ValueError("not an aware timestamp")
        if not isinstance(row_id, str):
            raise ValueError("not a UUID")
        return in_utc(moment), uuid.UUID(row_id)
    except (TypeError, ValueError) as exc:
        raise BadRequest("The cursor is not valid for this list.", parameter="cursor") from exc
