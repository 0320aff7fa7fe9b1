"""All SQL of refresh sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from backend.domain.admin.models import AdminUser
from backend.domain.refresh.models import RefreshFamily, RefreshToken
from backend.domain.sessions import AnySession, AsyncWriteSession

families = RefreshFamily.__table__  # type: ignore[attr-defined]
tokens = RefreshToken.__table__  # type: ignore[attr-defined]
admin_users = AdminUser.__table__  # type: ignore[attr-defined]


async def add_family(
    session: AsyncWriteSession, *, operator_id: uuid.UUID, token_version: int, expires_at: datetime
) -> uuid.UUID:
    stmt = (
        insert(families)
        .values(operator_id=operator_id, token_version=token_version, expires_at=expires_at)
        .returning(families.c.id)
    )
    family_id: uuid.UUID = (await session.execute(stmt)).scalar_one()
    return family_id


async def add_token(session: AsyncWriteSession, *, token_hash: str, family_id: uuid.UUID, expires_at: datetime) -> None:
    await session.execute(insert(tokens).values(token_hash=token_hash, family_id=family_id, expires_at=expires_at))


@dataclass(frozen=True)
class Presented:
    """A presented token with its family and the family's operator, as they are now."""

    family_id: uuid.UUID
    operator_id: uuid.UUID
    family_version: int
    family_expires_at: datetime
    family_revoked_at: datetime | None
    token_expires_at: datetime
    used_at: datetime | None
    operator_version: int
    operator_active: bool
    operator_role: str
    operator_name: str


async def lock_presented(session: AsyncWriteSession, token_hash: str) -> Presented | None:
    """The token by its hash, its row locked: a concurrent use of the same token waits for this transaction and
    then sees it used (READ COMMITTED re-reads a locked row once its lock is released)."""
    t, f, a = tokens.c, families.c, admin_users.c
    stmt = (
        select(
            f.id,
            f.operator_id,
            f.token_version,
            f.expires_at,
            f.revoked_at,
            t.expires_at,
            t.used_at,
            a.token_version,
            a.is_active,
            a.role,
            a.name,
        )
        .select_from(tokens.join(families, f.id == t.family_id).join(admin_users, a.id == f.operator_id))
        .where(t.token_hash == token_hash)
        .with_for_update(of=tokens)
    )
    row = (await session.execute(stmt)).first()
    return Presented(*row) if row is not None else None


async def mark_used(session: AsyncWriteSession, token_hash: str, at: datetime) -> None:
    await session.execute(update(tokens).where(tokens.c.token_hash == token_hash).values(used_at=at))


async def family_of(session: AnySession, token_hash: str) -> uuid.UUID | None:
    stmt = select(tokens.c.family_id).where(tokens.c.token_hash == token_hash)
    family_id: uuid.UUID | None = (await session.execute(stmt)).scalar_one_or_none()
    return family_id


async def revoke_family(session: AsyncWriteSession, family_id: uuid.UUID, *, reason: str, at: datetime) -> bool:
    """True when this call revoked it (False: it was revoked already)."""
    f = families.c
    stmt = (
        update(families)
        .where(f.id == family_id, f.revoked_at.is_(None))
        .values(revoked_at=at, revoked_reason=reason)
        .returning(f.id)
    )
    return (await session.execute(stmt)).first() is not None


async def prune_expired(session: AsyncWriteSession, *, expired_before: datetime, limit: int) -> int:
    """Delete up to `limit` families (their tokens with them) that ended before `expired_before`."""
    f = families.c
    doomed = (
        select(f.id)
        .where(f.expires_at < expired_before)
        .order_by(f.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(families).where(f.id.in_(doomed.scalar_subquery())).returning(f.id))
    return len(result.all())
