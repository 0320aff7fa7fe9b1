"""What a statement's plan did: EXPLAIN ANALYZE, read back as the plan nodes that ran."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg


async def executed(db: asyncpg.Pool | asyncpg.Connection, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    """Run `sql` under EXPLAIN ANALYZE and return the plan's nodes that ran at least once, parents first."""
    plan = json.loads(await db.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args))[0]["Plan"]
    return list(_ran(plan))


def _ran(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if plan.get("Actual Loops", 0) > 0:
        yield plan
        for child in plan.get("Plans", []):
            yield from _ran(child)
