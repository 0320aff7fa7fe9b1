"""The closed list of reason codes that decisions name, with their labels (any role that reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from backend.api.listing import NEWEST_FIRST, ListQuery, ListSpec, NoFilters, list_query
from backend.domain.reasons import ReasonCode, ReasonCodeRead, reason_codes

router = APIRouter(tags=["decisions"])

REASON_CODE_LIST = ListSpec(
    resource="reason-codes",
    filters=NoFilters,
    sort_fields=frozenset(),
    default_sort=NEWEST_FIRST,  # unused: the codes come in their list's order
    default_limit=len(ReasonCode),
    max_limit=len(ReasonCode),
    keyset=False,
    counted=False,
)
ReasonCodeListing = Annotated[ListQuery[NoFilters], Depends(list_query(REASON_CODE_LIST))]


@router.get("/reason-codes", response_model=list[ReasonCodeRead], summary="List the reason codes")
async def list_reason_codes(listing: ReasonCodeListing) -> Response:
    """Every code a reject, suspend, ban or rejection may name, with its label and whether it needs a reason."""
    codes = reason_codes()
    return listing.respond(codes[listing.offset : listing.offset + listing.limit], total=len(codes))
