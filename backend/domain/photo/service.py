"""PhotoService: uploads straight to S3, their confirmation, moderation, order and deletion, all audited.

Uploads follow the flow every uploaded file shares (`backend.domain.upload.service`): a presigned form writes an
upload key nothing serves, and `complete` copies it to the photo's own key and checks that copy before the photo
is `pending`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.claims import service as claims
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.identity import AuditContext
from backend.domain.member.models import PhotoStatus, UserPhoto
from backend.domain.outbox.service import enqueue
from backend.domain.photo import repository
from backend.domain.photo.schemas import (
    EXTENSIONS,
    MAX_DISPLAY_ORDER,
    PhotoDetailRead,
    PhotoUpdate,
    PhotoUploadCreate,
    PhotoUploadStarted,
)
from backend.domain.reasons import ReasonCode
from backend.domain.sessions import AsyncWriteSession
from backend.domain.upload.service import UploadFlow, UploadKind
from backend.infrastructure.storage import Storage

ENTITY = "photo"
MODERATED = frozenset({PhotoStatus.pending, PhotoStatus.approved, PhotoStatus.rejected})
_AUDITED = (
    "user_id",
    "s3_key",
    "content_type",
    "display_order",
    "status",
    "status_reason",
    "reason_code",
    "size_bytes",
    "deleted_at",
    "claimed_by",
)


PHOTOS = UploadKind(noun="photo", folder="photos", extensions=EXTENSIONS)


def _state(row: UserPhoto) -> dict[str, object]:
    return {field: getattr(row, field) for field in _AUDITED}


def _renumber(ordered: list[UserPhoto]) -> bool:
    """Give `ordered` the positions 0..n-1; whether any photo moved."""
    moved = False
    for position, photo in enumerate(ordered):
        if photo.display_order != position:
            photo.display_order = position
            moved = True
    return moved


async def abandoned_uploads(session: AsyncWriteSession, *, started_before: datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` photos still `uploading` that were started before `started_before`, oldest first, whether
    their member is live or soft-deleted; `PhotoService.abandon_upload` removes each."""
    return await repository.abandoned_uploads(session, started_before=started_before, limit=limit)


class PhotoService:
    """Operators' writes on member photos, each in the request's transaction with its audit row."""

    def __init__(
        self,
        session: AsyncWriteSession,
        context: AuditContext,
        storage: Storage,
        *,
        max_bytes: int,
        upload_ttl_seconds: int,
    ) -> None:
        self.session = session
        self.audit = AuditTrail(session, context)
        self.uploads = UploadFlow(session, storage, PHOTOS, max_bytes=max_bytes, ttl_seconds=upload_ttl_seconds)

    async def start_upload(self, member_id: uuid.UUID, data: PhotoUploadCreate) -> PhotoUploadStarted:
        """A new `uploading` photo after the member's others, and the presigned form that uploads its file."""
        self.uploads.check_announced_size(data.size_bytes)
        if not await repository.lock_member(self.session, member_id):
            raise NotFoundError(f"No member with id {member_id}.")
        position = await repository.next_display_order(self.session, member_id)
        if position > MAX_DISPLAY_ORDER:
            raise ConflictError(f"The member has {position} photos, the most a member can have.")
        photo_id = uuid.uuid4()
        row = UserPhoto(
            id=photo_id,
            user_id=member_id,
            s3_key=PHOTOS.served_key(member_id, photo_id, data.content_type),
            content_type=data.content_type,
            display_order=position,
            status=PhotoStatus.uploading,
        )
        await repository.add(self.session, row)
        await self.audit.record("photo.upload_started", ENTITY, row.id, changes(None, _state(row)))
        upload = await self.uploads.form(member_id, photo_id, data.content_type)
        return PhotoUploadStarted.model_validate({**PhotoDetailRead.model_validate(row).model_dump(), "upload": upload})

    async def complete(self, photo_id: uuid.UUID) -> PhotoDetailRead:
        """Copy the upload to the photo's own key, check the copy (size, and type by its first bytes) and move the
        photo to `pending`: that copy is what is served from now on. 409 otherwise (the photo stays `uploading`,
        so a correct file can still be posted with the same form and completed)."""
        row = await self._photo(photo_id, for_update=True)
        if row.status != PhotoStatus.uploading:
            raise ConflictError(
                f"The photo is {row.status}; only an uploading photo can be completed.", photo_status=row.status
            )
        size = await self.uploads.checked_copy(row)
        before = _state(row)
        row.status = PhotoStatus.pending
        row.size_bytes = size
        await repository.flush(self.session)
        await self.audit.record("photo.completed", ENTITY, row.id, changes(before, _state(row)))
        await self.uploads.discard_upload(row, "photo.completed")
        return PhotoDetailRead.model_validate(row)

    async def update(self, photo_id: uuid.UUID, data: PhotoUpdate) -> PhotoDetailRead:
        """Approve or reject (with a reason code) and/or move the photo to another position."""
        claims.check_force(self.audit.context.actor, data.force)
        if data.display_order is None:
            row = await self._photo(photo_id, for_update=True)
            siblings: list[UserPhoto] = []
        else:
            row, siblings = await self._photo_with_siblings(photo_id)
        if data.status is not None:
            await self._moderate(row, PhotoStatus(data.status), data.reason, data.reason_code, force=data.force)
        if data.display_order is not None:
            await self._move(row, siblings, data.display_order)
        return PhotoDetailRead.model_validate(row)

    async def delete(self, photo_id: uuid.UUID) -> PhotoDetailRead:
        """Soft-delete the photo, close the gap in the order, and have the worker delete its objects."""
        row, siblings = await self._photo_with_siblings(photo_id)
        await self._remove(row, siblings, "photo.deleted")
        return PhotoDetailRead.model_validate(row)

    async def abandon_upload(self, photo_id: uuid.UUID, *, started_before: datetime) -> bool:
        """Remove a photo whose upload began before `started_before` and was never completed, as `delete` does
        (its file may have arrived after all, so the objects are deleted too), whether its member is live or
        soft-deleted. False when, once locked, the photo turns out completed, deleted or younger: nothing
        changes then."""
        try:
            # A deleted member's upload too: its form could still be posted after the member was deleted.
            row, siblings = await self._photo_with_siblings(photo_id, deleted_member_too=True)
        except NotFoundError:
            return False
        if row.status != PhotoStatus.uploading or row.created_at is None or row.created_at >= started_before:
            return False
        await self._remove(row, siblings, "photo.upload_abandoned")
        return True

    async def _remove(self, row: UserPhoto, siblings: list[UserPhoto], action: str) -> None:
        uploading = row.status == PhotoStatus.uploading
        before = _state(row)
        await repository.soft_delete(self.session, row)
        _renumber([photo for photo in siblings if photo.id != row.id])
        await repository.flush(self.session)
        await self.audit.record(action, ENTITY, row.id, changes(before, _state(row)))
        await self.uploads.remove_objects(row, action, uploading=uploading)

    async def _photo(self, photo_id: uuid.UUID, *, for_update: bool, deleted_member_too: bool = False) -> UserPhoto:
        row = await repository.get_photo(
            self.session, photo_id, for_update=for_update, deleted_member_too=deleted_member_too
        )
        if row is None:
            raise NotFoundError(f"No photo with id {photo_id}.")
        return row

    async def _photo_with_siblings(
        self, photo_id: uuid.UUID, *, deleted_member_too: bool = False
    ) -> tuple[UserPhoto, list[UserPhoto]]:
        """The photo and all its member's live photos, locked in the repository's lock order."""
        photo = await self._photo(photo_id, for_update=False, deleted_member_too=deleted_member_too)
        member_id = photo.user_id  # a photo never changes member
        if not await repository.lock_member(self.session, member_id, deleted_too=deleted_member_too):
            raise NotFoundError(f"No photo with id {photo_id}.")
        siblings = await repository.lock_live_photos(self.session, member_id)
        row = next((photo for photo in siblings if photo.id == photo_id), None)
        if row is None:  # deleted while we waited for the lock
            raise NotFoundError(f"No photo with id {photo_id}.")
        return row, siblings

    async def _moderate(
        self, row: UserPhoto, status: PhotoStatus, reason: str | None, code: ReasonCode | None, *, force: bool
    ) -> None:
        """Approve or reject the locked photo: its claim checked first (409 naming the holder, unless an admin
        forces it, which the audit row records), and released by the decision."""
        if row.status not in MODERATED:
            raise ConflictError(
                f"The photo is {row.status}; complete its upload before moderating it.", photo_status=row.status
            )
        forced = await claims.check(self.session, row, self.audit.context.actor, force=force)
        reason_code = code.value if code is not None else None
        unchanged = (row.status, row.status_reason, row.reason_code) == (status, reason, reason_code)
        if unchanged and not claims.holds(row):
            return
        before = _state(row)
        row.status = status
        row.status_reason = reason
        row.reason_code = reason_code
        released = claims.release(row)
        await repository.flush(self.session)
        diff = changes(before, _state(row))
        if forced:
            diff["claim_overridden"] = claims.overridden(released)
        await self.audit.record(f"photo.{status.value}", ENTITY, row.id, diff)
        if status == PhotoStatus.rejected and not unchanged:
            await enqueue(
                self.session,
                "photo.rejected",
                {"member_id": str(row.user_id), "photo_id": str(row.id), "reason_code": reason_code, "reason": reason},
            )

    async def _move(self, row: UserPhoto, siblings: list[UserPhoto], position: int) -> None:
        if position >= len(siblings):  # valid in itself, but not for this member's photos as they are now
            raise ConflictError(
                f"display_order must be below {len(siblings)}, the member's number of photos.",
                field="display_order",
            )
        before = {"display_order": row.display_order, "order": [str(photo.id) for photo in siblings]}
        ordered = [photo for photo in siblings if photo.id != row.id]
        ordered.insert(position, row)
        if not _renumber(ordered):
            return
        await repository.flush(self.session)
        after = {"display_order": row.display_order, "order": [str(photo.id) for photo in ordered]}
        await self.audit.record("photo.reordered", ENTITY, row.id, changes(before, after))
