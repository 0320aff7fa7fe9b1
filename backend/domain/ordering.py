"""How lists are ordered, shared by the API's query parsing and the repositories."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SortKey:
    """One sort field and its direction."""

    field: str
    descending: bool
