"""All SQL about member documents.

Lock order, as for photos: the member's users row first (FOR NO KEY UPDATE) when a write adds a document; a write
that changes one document (complete, a decision, a deletion) locks only that document's row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, func, literal_column, select, update

from backend.domain.member.models import DocumentStatus, User, UserDocument
from backend.domain.sessions import AnySession, AsyncWriteSession

users = User.__table__  # type: ignore[attr-defined]
documents = UserDocument.__table__  # type: ignore[attr-defined]


async def lock_member(session: AsyncWriteSession, member_id: uuid.UUID) -> bool:
    """Lock a live member's row for a new document (FOR NO KEY UPDATE, as photos do); False when there is none."""
    stmt = (
        select(users.c.id).where(users.c.id == member_id, users.c.deleted_at.is_(None)).with_for_update(key_share=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def get_document(
    session: AnySession, document_id: uuid.UUID, *, for_update: bool = False, deleted_member_too: bool = False
) -> UserDocument | None:
    """A live document of a live member (or of a deleted one, when asked), its row locked FOR UPDATE when asked."""
    stmt = (
        select(UserDocument)
        .join(users, users.c.id == documents.c.user_id)
        .where(documents.c.id == document_id, documents.c.deleted_at.is_(None))
        .execution_options(populate_existing=True)
    )
    if not deleted_member_too:
        stmt = stmt.where(users.c.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update(of=documents)
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncWriteSession, row: UserDocument) -> None:
    """Insert and flush, so server defaults (created_at) are loaded."""
    session.add(row)
    await session.flush()
    await session.refresh(row)


async def soft_delete(session: AsyncWriteSession, row: UserDocument) -> None:
    """Stamp deleted_at with the transaction's time and load it into `row`."""
    await session.execute(update(documents).where(documents.c.id == row.id).values(deleted_at=func.now()))
    await session.refresh(row, ["deleted_at"])


async def flush(session: AsyncWriteSession) -> None:
    await session.flush()


async def abandoned_uploads(session: AnySession, *, started_before: datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` live documents still `uploading` that were started before `started_before`, oldest first,
    whether their member is live or soft-deleted."""
    stmt = (
        select(documents.c.id)
        .where(
            # Inlined, so that the partial index on uploads (WHERE status = 'uploading' ...) serves every plan.
            documents.c.status == literal_column(f"'{DocumentStatus.uploading.value}'", String),
            documents.c.deleted_at.is_(None),
            documents.c.created_at < started_before,
        )
        .order_by(documents.c.created_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
