"""A list's order is made total: the requested sort (or the list's default), with `id` last."""

from __future__ import annotations

import pytest

from backend.domain.ordering import SortKey, total_order

NEWEST = (SortKey("created_at", descending=True),)


def keys(text: str) -> tuple[SortKey, ...]:
    return tuple(SortKey(name.lstrip("-"), name.startswith("-")) for name in text.split(",") if name)


@pytest.mark.parametrize(
    ("requested", "total"),
    [
        ("", "-created_at,-id"),  # the default, id running its way
        ("name", "name,id"),
        ("name,-birth_year", "name,-birth_year,-id"),
        ("-id", "-id"),  # id alone is total already
        ("id,name", "name,id"),  # id always last
        ("name,-id", "name,-id"),
    ],
)
def test_total_order(requested: str, total: str) -> None:
    assert total_order(keys(requested), NEWEST) == keys(total)
