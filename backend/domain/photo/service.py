"""PhotoService: uploads straight to S3, their confirmation, moderation, order and deletion, all audited.

The file never passes through the API: an operator's client posts it to S3 with a presigned form whose
policy fixes the key, the Content-Type and the size range. That key is the photo's *upload key*, which nothing
serves. `complete` copies the upload (server-side) to the photo's own key, `s3_key`, stored as the declared
type and with no other metadata, then checks that copy: its size, and its first bytes against the declared
type (`backend.domain.filetypes`). Only a copy that passes becomes the `pending` photo, and it is never written
again: no form names it, and nothing copies to a photo that is no longer `uploading`. So what a moderator sees
and approves is exactly what is served, whatever is posted with the form afterwards.

The upload key is then discarded: deleted by the outbox at once, and again once the form has expired, since a
late POST can put it back. S3 objects are never deleted inside the transaction: a deletion is an outbox event
the worker carries out after the commit, so a rolled-back delete leaves the object in place.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.claims import service as claims
from backend.domain.errors import ConflictError, NotFoundError, ServiceUnavailable, UnprocessableEntity
from backend.domain.filetypes import PHOTO_TYPES, SNIFF_BYTES, checked_type, describe, sniff
from backend.domain.identity import AuditContext
from backend.domain.member.models import PhotoStatus, UserPhoto
from backend.domain.outbox.service import enqueue, enqueue_object_deletion
from backend.domain.photo import repository
from backend.domain.photo.schemas import (
    EXTENSIONS,
    MAX_DISPLAY_ORDER,
    PhotoDetailRead,
    PhotoUpdate,
    PhotoUploadCreate,
    PhotoUploadStarted,
    UploadForm,
)
from backend.domain.reasons import ReasonCode
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure.storage import Storage, StorageError

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


FORM_EXPIRY_MARGIN_SECONDS = 300
"""An upload key is deleted once more this long after its form expired (S3's clock may run behind ours)."""


def photo_key(member_id: uuid.UUID, photo_id: uuid.UUID, content_type: str) -> str:
    """The key of the object a photo serves, written only by `complete`: members/<member_id>/photos/<photo_id>.<ext>."""
    return f"members/{member_id}/photos/{photo_id}.{EXTENSIONS[content_type]}"


def upload_key(member_id: uuid.UUID, photo_id: uuid.UUID, content_type: str) -> str:
    """The key a photo's upload form writes, never served: members/<member_id>/uploads/<photo_id>.<ext>."""
    return f"members/{member_id}/uploads/{photo_id}.{EXTENSIONS[content_type]}"


def _upload_key_of(row: UserPhoto) -> str | None:
    """The photo's upload key (None for a photo that never had an upload form)."""
    if row.content_type not in EXTENSIONS:
        return None
    return upload_key(row.user_id, row.id, row.content_type)


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
        self.storage = storage
        self.max_bytes = max_bytes
        self.upload_ttl_seconds = upload_ttl_seconds

    async def start_upload(self, member_id: uuid.UUID, data: PhotoUploadCreate) -> PhotoUploadStarted:
        """A new `uploading` photo after the member's others, and the presigned form that uploads its file."""
        if data.size_bytes is not None and data.size_bytes > self.max_bytes:
            raise UnprocessableEntity(
                f"The file is {data.size_bytes} bytes; photos may be at most {self.max_bytes} bytes.",
                field="size_bytes",
                max_bytes=self.max_bytes,
            )
        if not await repository.lock_member(self.session, member_id):
            raise NotFoundError(f"No member with id {member_id}.")
        position = await repository.next_display_order(self.session, member_id)
        if position > MAX_DISPLAY_ORDER:
            raise ConflictError(f"The member has {position} photos, the most a member can have.")
        photo_id = uuid.uuid4()
        row = UserPhoto(
            id=photo_id,
            user_id=member_id,
            s3_key=photo_key(member_id, photo_id, data.content_type),
            content_type=data.content_type,
            display_order=position,
            status=PhotoStatus.uploading,
        )
        await repository.add(self.session, row)
        await self.audit.record("photo.upload_started", ENTITY, row.id, changes(None, _state(row)))
        form = await self.storage.presign_post(
            upload_key(member_id, photo_id, data.content_type),
            data.content_type,
            self.max_bytes,
            expires_in=self.upload_ttl_seconds,
        )
        upload = UploadForm(url=form.url, fields=form.fields, expires_at=form.expires_at, max_bytes=self.max_bytes)
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
        source = _upload_key_of(row)
        declared = row.content_type or ""
        if source is None or declared not in PHOTO_TYPES:
            raise ConflictError(f"The photo's type {declared or '(none)'} is not one photos may have.")
        try:
            # Nothing serves `s3_key` while the photo is `uploading`, and the row lock keeps other completions out.
            copied = await self.storage.copy(source, row.s3_key, content_type=declared)
            head = await self.storage.read_head(row.s3_key, SNIFF_BYTES) if copied else None
        except StorageError as exc:
            raise ServiceUnavailable("S3 could not be reached to check the upload; try again.") from exc
        if head is None:
            raise ConflictError("No file has been uploaded for this photo yet.", problem="missing", upload_key=source)
        # S3 enforced the upload policy's size range; this catches an object that reached the key some other way.
        if not 1 <= head.size <= self.max_bytes:
            raise ConflictError(
                f"The uploaded file is {head.size} bytes; photos must be 1 to {self.max_bytes} bytes.",
                problem="size",
                size_bytes=head.size,
                max_bytes=self.max_bytes,
            )
        # The policy fixed only the declared Content-Type, not what the bytes are.
        if checked_type(head.data, declared, PHOTO_TYPES) is None:
            detected = sniff(head.data)
            raise ConflictError(
                f"The uploaded file is not {describe(declared)}, as the upload was started for: "
                f"its first bytes are those of {describe(detected)}.",
                problem="content_type",
                content_type=declared,
                detected_type=detected,
            )
        before = _state(row)
        row.status = PhotoStatus.pending
        row.size_bytes = head.size
        await repository.flush(self.session)
        await self.audit.record("photo.completed", ENTITY, row.id, changes(before, _state(row)))
        await self._discard_upload(row, "photo.completed")
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
        # An uploading photo's own key may hold the copy of a refused completion.
        await enqueue_object_deletion(
            self.session, row.s3_key, topic=action, photo_id=str(row.id), member_id=str(row.user_id)
        )
        if uploading:  # a completed photo's upload key was discarded by its completion
            await self._discard_upload(row, action)

    async def _discard_upload(self, row: UserPhoto, topic: str) -> None:
        """Have the outbox delete the photo's upload key now and, while its form may still be posted (a late POST
        puts the key back), once more after the form has expired."""
        key = _upload_key_of(row)
        if key is None:
            return
        photo_id, member_id = str(row.id), str(row.user_id)
        await enqueue_object_deletion(self.session, key, topic=topic, photo_id=photo_id, member_id=member_id)
        started = row.created_at or datetime.now(UTC)  # the form was signed in the transaction that set created_at
        form_gone = started + timedelta(seconds=self.upload_ttl_seconds + FORM_EXPIRY_MARGIN_SECONDS)
        if form_gone > datetime.now(UTC):
            await enqueue_object_deletion(
                self.session, key, topic=topic, due_at=form_gone, photo_id=photo_id, member_id=member_id
            )

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
        holder, held_until = row.claimed_by, row.claimed_until
        forced = await claims.check(self.session, row, self.audit.context.actor, force=force)
        reason_code = code.value if code is not None else None
        unchanged = (row.status, row.status_reason, row.reason_code) == (status, reason, reason_code)
        if unchanged and not claims.holds(row):
            return
        before = _state(row)
        row.status = status
        row.status_reason = reason
        row.reason_code = reason_code
        claims.release(row)
        await repository.flush(self.session)
        diff = changes(before, _state(row))
        if forced:
            diff["claim_overridden"] = {
                "before": {"claimed_by": str(holder), "claimed_until": held_until.isoformat() if held_until else None},
                "after": None,
            }
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
