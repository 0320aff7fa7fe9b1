"""All SQL of operator and API key management."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text, update

from backend.domain.admin.models import AdminUser, ApiKey
from backend.domain.identity import Role
from backend.domain.sessions import AnySession, AsyncWriteSession

admin_users = AdminUser.__table__  # type: ignore[attr-defined]
api_keys = ApiKey.__table__  # type: ignore[attr-defined]


async def list_operators(session: AnySession) -> list[AdminUser]:
    stmt = select(AdminUser).order_by(admin_users.c.created_at, admin_users.c.id)
    return list((await session.execute(stmt)).scalars())


async def operator_by_email(session: AnySession, email: str) -> AdminUser | None:
    """The operator with this email, in any case (emails are unique regardless of case)."""
    stmt = select(AdminUser).where(func.lower(admin_users.c.email) == email.lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncWriteSession, row: AdminUser | ApiKey) -> None:
    """Insert and flush, so server defaults (id, created_at) are loaded."""
    session.add(row)
    await session.flush()
    await session.refresh(row)


async def lock_admin_set(session: AsyncWriteSession) -> None:
    """Serialise changes that may take an active admin away, so that two cannot both count the other one.

    (Two admins demoting each other at once each saw one other admin left, and both committed: no admin at all.)
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('memberdesk'), hashtext('admin_users:admins'))"))


async def other_active_admins(session: AsyncWriteSession, operator_id: uuid.UUID) -> int:
    """Active admins other than `operator_id`."""
    c = admin_users.c
    stmt = select(func.count()).where(c.role == Role.admin.value, c.is_active.is_(True), c.id != operator_id)
    return int((await session.execute(stmt)).scalar_one())


async def operator_for_update(session: AsyncWriteSession, operator_id: uuid.UUID) -> AdminUser | None:
    stmt = select(AdminUser).where(admin_users.c.id == operator_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def flush(session: AsyncWriteSession) -> None:
    await session.flush()


async def list_api_keys(session: AnySession) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(api_keys.c.created_at, api_keys.c.id)
    return list((await session.execute(stmt)).scalars())


async def revoke_api_key(session: AsyncWriteSession, key_id: uuid.UUID) -> ApiKey | None:
    """Revoke a key (once: a second revoke keeps the first time) and return it."""
    await session.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=func.now())
    )
    row = await session.get(ApiKey, key_id, populate_existing=True)
    return row
