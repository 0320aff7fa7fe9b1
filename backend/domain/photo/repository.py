"""All SQL about member photos.

Lock order, the same in every write that touches a member's photo set: the member's users row first
(FOR NO KEY UPDATE), then the member's live photos FOR UPDATE in (display_order, id) order. A write that
changes one photo alone (complete, a status change) locks only that photo row and nothing after it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, func, literal_column, select, update

from backend.domain.member.models import PhotoStatus, User, UserPhoto
from backend.domain.sessions import AnySession, AsyncWriteSession

users = User.__table__  # type: ignore[attr-defined]
photos = UserPhoto.__table__  # type: ignore[attr-defined]


async def lock_member(session: AsyncWriteSession, member_id: uuid.UUID, *, deleted_too: bool = False) -> bool:
    """Lock a live member's row (or a deleted one's, when asked) for its photo writes; False when there is none.

    FOR NO KEY UPDATE serialises photo-set writes of one member with each other and with updates of the
    member row, but not with inserts that only reference it (notes, audit), which take KEY SHARE.
    """
    stmt = select(users.c.id).where(users.c.id == member_id).with_for_update(key_share=True)  # FOR NO KEY UPDATE
    if not deleted_too:
        stmt = stmt.where(users.c.deleted_at.is_(None))
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def lock_live_photos(session: AsyncWriteSession, member_id: uuid.UUID) -> list[UserPhoto]:
    """The member's live photos in display order, each locked FOR UPDATE (in that order)."""
    stmt = (
        select(UserPhoto)
        .where(photos.c.user_id == member_id, photos.c.deleted_at.is_(None))
        .order_by(photos.c.display_order, photos.c.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


async def get_photo(
    session: AnySession, photo_id: uuid.UUID, *, for_update: bool = False, deleted_member_too: bool = False
) -> UserPhoto | None:
    """A live photo of a live member (or of a deleted one, when asked), locked FOR UPDATE when asked (the photo
    row only); None when there is none."""
    stmt = (
        select(UserPhoto)
        .join(users, users.c.id == photos.c.user_id)
        .where(photos.c.id == photo_id, photos.c.deleted_at.is_(None))
        .execution_options(populate_existing=True)
    )
    if not deleted_member_too:
        stmt = stmt.where(users.c.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update(of=photos)
    return (await session.execute(stmt)).scalar_one_or_none()


async def next_display_order(session: AsyncWriteSession, member_id: uuid.UUID) -> int:
    """The position after the member's last live photo (0 for none)."""
    stmt = select(func.coalesce(func.max(photos.c.display_order) + 1, 0)).where(
        photos.c.user_id == member_id, photos.c.deleted_at.is_(None)
    )
    return int((await session.execute(stmt)).scalar_one())


async def add(session: AsyncWriteSession, row: UserPhoto) -> None:
    """Insert and flush, so server defaults (created_at) are loaded."""
    session.add(row)
    await session.flush()
    await session.refresh(row)


async def soft_delete(session: AsyncWriteSession, row: UserPhoto) -> None:
    """Stamp deleted_at with the transaction's time and load it into `row`."""
    await session.execute(update(photos).where(photos.c.id == row.id).values(deleted_at=func.now()))
    await session.refresh(row, ["deleted_at"])


async def flush(session: AsyncWriteSession) -> None:
    await session.flush()


async def abandoned_uploads(session: AnySession, *, started_before: datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` live photos still `uploading` that were started before `started_before`, oldest first,
    whether their member is live or soft-deleted (a form outlives its member's deletion)."""
    stmt = (
        select(photos.c.id)
        .where(
            # Inlined, so that the partial index on uploads (WHERE status = 'uploading' ...) serves every plan.
            photos.c.status == literal_column(f"'{PhotoStatus.uploading.value}'", String),
            photos.c.deleted_at.is_(None),
            photos.c.created_at < started_before,
        )
        .order_by(photos.c.created_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
