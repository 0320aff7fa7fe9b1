"""Bulk decisions as the API states them: the ids a bulk request takes, and its answer, one result per id.

A bulk request decides each id in a transaction of its own, with the same rules as the decision on that one item
(backend/api/bulk.py runs them), so one refusal rolls back nothing else. Each id gets a result:

- `ok`: decided and committed;
- `not_found`: no such item (as the single decision's 404);
- `claimed`: another operator holds the item's claim (the single decision's 409, with `claimed_by`,
  `claimed_by_name`, `claimed_until` in `problem`);
- `conflict`: any other refusal of the single decision (its state allows no such decision, a stale version ...),
  with the problem it would have answered.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from backend.domain.schemas import ReadSchema, Uuid

MAX_BULK_IDS = 500


def _distinct(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    seen: set[uuid.UUID] = set()
    for item in ids:
        if item in seen:
            raise PydanticCustomError("duplicate_id", "ids must be distinct; {id} is given twice", {"id": str(item)})
        seen.add(item)
    return ids


BulkIds = Annotated[
    list[Uuid],
    Field(
        min_length=1,
        max_length=MAX_BULK_IDS,
        json_schema_extra={"uniqueItems": True},
        description=f"1 to {MAX_BULK_IDS} distinct ids, each decided in a transaction of its own",
    ),
    AfterValidator(_distinct),
]


class BulkOutcome(StrEnum):
    ok = "ok"
    conflict = "conflict"
    not_found = "not_found"
    claimed = "claimed"


class BulkItemResult(ReadSchema):
    """What became of one id."""

    id: uuid.UUID
    result: BulkOutcome
    status: int = Field(description="The status the single decision on this item answers: 200, 404, 409, 412 ...")
    problem: dict[str, Any] | None = Field(
        default=None, description="The problem (RFC 9457) of a refusal, as the single decision answers it"
    )


class BulkSummary(ReadSchema):
    total: int
    ok: int
    conflict: int
    not_found: int
    claimed: int


class BulkAnswer(ReadSchema):
    """One result per id, in the order of the request's ids, and how many of each."""

    results: list[BulkItemResult]
    summary: BulkSummary

    @classmethod
    def of(cls, results: list[BulkItemResult]) -> BulkAnswer:
        counts = {outcome: 0 for outcome in BulkOutcome}
        for item in results:
            counts[item.result] += 1
        summary = BulkSummary(total=len(results), **{outcome.value: n for outcome, n in counts.items()})
        return cls(results=results, summary=summary)
