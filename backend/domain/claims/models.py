"""The indexes every claimable table carries, so that a queue hands out its oldest unclaimed item at once."""

from __future__ import annotations

from sqlalchemy import Index, text


def claim_indexes(table: str, name: str, waiting: str) -> tuple[Index, Index]:
    """Two partial indexes over a queue's waiting items (`waiting`: their SQL condition).

    The first holds the items nobody has claimed, in queue order, so that the oldest one is its first entry: a
    claim takes its item out of that index, and a pile of claims is never stepped over. The second holds the
    claimed ones by `claimed_until`, so that the lapsed claims are a range up to now.
    """
    return (
        Index(
            f"ix_{table}_{name}_unclaimed",
            "created_at",
            "id",
            postgresql_where=text(f"{waiting} AND claimed_until IS NULL"),
        ),
        Index(
            f"ix_{table}_{name}_claims",
            "claimed_until",
            postgresql_where=text(f"{waiting} AND claimed_until IS NOT NULL"),
        ),
    )
