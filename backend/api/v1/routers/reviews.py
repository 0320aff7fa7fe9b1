"""Claiming the next item of a moderation queue."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from backend.api.deps import RequireModerator, ReviewServiceDep
from backend.domain.review.schemas import ClaimedItem, ClaimRequest, ReleaseRequest

router = APIRouter(prefix="/reviews", tags=["reviews"])


@router.post(
    "/next",
    response_model=ClaimedItem,
    summary="Claim the next item of a queue",
    responses={204: {"description": "Nothing waits in that queue"}},
)
async def claim_next(data: ClaimRequest, _: RequireModerator, service: ReviewServiceDep) -> Response:
    """The oldest item of the queue that nobody holds (or whose claim lapsed), now the caller's for
    REVIEW_CLAIM_SECONDS; others deciding it meanwhile get 409. 204 when the queue is empty."""
    item = await service.claim_next(data.queue, data.exclude)
    if item is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return Response(item.model_dump_json(), media_type="application/json")


@router.post("/release", status_code=status.HTTP_204_NO_CONTENT, summary="Give back a claimed item")
async def release(data: ReleaseRequest, _: RequireModerator, service: ReviewServiceDep) -> Response:
    """The caller's claim on the item ends (a skip): the item goes back to its queue, at its place, for the next
    claimer. 204 whether or not the caller held a claim on it (someone else's claim is never touched)."""
    await service.release(data.queue, data.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
