"""Member photos: presigned uploads, their confirmation, moderation, order and deletion (moderator role)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from backend.api.bulk import BulkRunnerDep
from backend.api.deps import AuditContextDep, RequireModerator, SettingsDep, StorageDep, WriteSession, get_queue_service
from backend.api.listing import OLDEST_FIRST, ListSpec, ServedListQuery, list_query
from backend.domain.bulk import BulkAnswer
from backend.domain.claims.service import check_force
from backend.domain.photo.schemas import (
    PhotoBulk,
    PhotoDetailRead,
    PhotoUpdate,
    PhotoUploadCreate,
    PhotoUploadStarted,
)
from backend.domain.photo.service import PhotoService
from backend.domain.queue.schemas import MULTI_VALUE_FILTERS, QUEUE_SORT_FIELDS, PhotoQueueFilters, PhotoQueueItem
from backend.domain.queue.service import QueueService
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage

router = APIRouter(tags=["photos"])


def _photo_service(
    session: AsyncWriteSession, context: AuditContextDep, storage: Storage, settings: Settings
) -> PhotoService:
    return PhotoService(
        session,
        context,
        storage,
        max_bytes=settings.photo_max_bytes,
        upload_ttl_seconds=settings.photo_upload_ttl_seconds,
    )


async def get_photo_service(
    session: WriteSession, context: AuditContextDep, storage: StorageDep, settings: SettingsDep
) -> PhotoService:
    return _photo_service(session, context, storage, settings)


async def get_photo_services(
    context: AuditContextDep, storage: StorageDep, settings: SettingsDep
) -> Callable[[AsyncWriteSession], PhotoService]:
    """Photo services on sessions a route opens itself (a bulk decision: a transaction per photo)."""
    return lambda session: _photo_service(session, context, storage, settings)


PhotoServiceDep = Annotated[PhotoService, Depends(get_photo_service)]
PhotoServicesDep = Annotated[Callable[[AsyncWriteSession], PhotoService], Depends(get_photo_services)]

PHOTO_QUEUE = ListSpec(
    resource="photos",
    filters=PhotoQueueFilters,
    multi_value=MULTI_VALUE_FILTERS & PhotoQueueFilters.model_fields.keys(),
    sort_fields=QUEUE_SORT_FIELDS,
    default_sort=OLDEST_FIRST,
)
PhotoQueue = Annotated[
    ServedListQuery[PhotoQueueFilters, QueueService], Depends(list_query(PHOTO_QUEUE, service=get_queue_service))
]


@router.get("/photos", response_model=list[PhotoQueueItem], summary="The photo queue")
async def photo_queue(listing: PhotoQueue) -> Response:
    """Photos across members (`status=pending` for the moderation queue), oldest first, each with its presigned
    URL, its member (id, name, status) and its claim; live photos of live members unless `include_deleted=true`.
    Exact totals, cursor paging via X-Next-Cursor."""
    page = await listing.service.photos(listing.filters, listing.page, listing.after)
    return listing.respond(page.items, total=page.total, next_after=page.next_cursor)


@router.post(
    "/members/{member_id}/photos",
    status_code=status.HTTP_201_CREATED,
    summary="Start a photo upload",
)
async def start_photo_upload(
    member_id: uuid.UUID, data: PhotoUploadCreate, _: RequireModerator, service: PhotoServiceDep
) -> PhotoUploadStarted:
    """A new `uploading` photo and a presigned POST limited to its upload key, type and PHOTO_MAX_BYTES.

    The form writes the photo's upload key (`upload.fields.key`), which is never served; `s3_key`, the object
    the photo serves, is written only by `complete`."""
    return await service.start_upload(member_id, data)


@router.post("/photos/{photo_id}/complete", summary="Confirm a photo upload")
async def complete_photo_upload(photo_id: uuid.UUID, _: RequireModerator, service: PhotoServiceDep) -> PhotoDetailRead:
    """Copy the upload to the photo's own key and check that copy: 1 to PHOTO_MAX_BYTES bytes, and first bytes
    of the declared type (JPEG, PNG or WebP). Then the photo is `pending`, and the copy, stored with the checked
    Content-Type and nothing the form added, is what is served from then on. 409 when the upload is missing or
    is not as announced (`problem`: `missing`, `size` or `content_type`); the photo stays `uploading`."""
    return await service.complete(photo_id)


@router.patch("/photos/{photo_id}", summary="Moderate or reorder a photo")
async def update_photo(
    photo_id: uuid.UUID, data: PhotoUpdate, _: RequireModerator, service: PhotoServiceDep
) -> PhotoDetailRead:
    """Approve, reject with a reason, and/or move to another display_order; the others shift to keep 0..n-1."""
    return await service.update(photo_id, data)


@router.delete("/photos/{photo_id}", summary="Delete a photo")
async def delete_photo(photo_id: uuid.UUID, _: RequireModerator, service: PhotoServiceDep) -> PhotoDetailRead:
    """Soft-delete the photo; its S3 objects are deleted by the outbox worker after the commit (an unfinished
    upload's upload key again once its form has expired)."""
    return await service.delete(photo_id)


@router.patch("/photos", response_model=BulkAnswer, summary="Decide many photos at once")
async def bulk_decide_photos(
    data: PhotoBulk, actor: RequireModerator, services: PhotoServicesDep, runner: BulkRunnerDep
) -> BulkAnswer:
    """Approve, or reject with a reason code, up to 500 photos, each in a transaction of its own with the rules of
    the single decision: one result per id (`ok`, `conflict`, `not_found`, `claimed`, with the problem the single
    decision would answer) and a summary. With an Idempotency-Key a retry writes nothing twice."""
    check_force(actor, data.force)
    decision = data.decision()

    async def decide(session: AsyncWriteSession, photo_id: uuid.UUID) -> None:
        await services(session).update(photo_id, decision)

    return await runner.run(data.ids, decide)
