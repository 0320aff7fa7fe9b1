"""How lists are ordered, shared by the API's query parsing and the repositories."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from backend.domain.errors import BadRequest
from backend.domain.timebounds import in_utc

BIGINT_MAX = 2**63 - 1
T = TypeVar("T")


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


def _created_position(values: Sequence[Any] | None, parse_id: Callable[[Any], T]) -> tuple[datetime, T] | None:
    """A keyset position (created_at, id) from decoded cursor values; 400 naming `cursor` when malformed."""
    if values is None:
        return None
    try:
        stamp, row_id = values
        moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        if moment is None or moment.tzinfo is None:
            raise ValueError("not an aware timestamp")
        return in_utc(moment), parse_id(row_id)
    except (TypeError, ValueError) as exc:
        raise BadRequest("The cursor is not valid for this list.", parameter="cursor") from exc


def _bigint(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= BIGINT_MAX:
        raise ValueError("not a bigint id")
    return value


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("not a UUID")
    return uuid.UUID(value)


def created_id_position(values: Sequence[Any] | None) -> tuple[datetime, int] | None:
    """A keyset position (created_at, id: a bigint) from decoded cursor values; 400 naming `cursor` when malformed."""
    return _created_position(values, _bigint)


def created_uuid_position(values: Sequence[Any] | None) -> tuple[datetime, uuid.UUID] | None:
    """A keyset position (created_at, id: a UUID) from decoded cursor values; 400 naming `cursor` when malformed."""
    return _created_position(values, _uuid)
