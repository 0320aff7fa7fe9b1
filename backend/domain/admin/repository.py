"""All SQL of operator and API key management."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, Table, func, or_, select, text, update

from backend.domain.admin.models import AdminUser, ApiKey
from backend.domain.identity import Role
from backend.domain.ordering import Page
from backend.domain.sessions import AnySession, AsyncWriteSession

admin_users = AdminUser.__table__  # type: ignore[attr-defined]
api_keys = ApiKey.__table__  # type: ignore[attr-defined]
T = TypeVar("T")


@dataclass(frozen=True)
class OperatorQuery:
    """A page of operators and their filters (None: any)."""

    page: Page
    roles: list[Role] | None = None
    is_active: bool | None = None
    q: str | None = None
    ids: list[uuid.UUID] | None = None


def _operator_conditions(query: OperatorQuery) -> list[ColumnElement[bool]]:
    c = admin_users.c
    where: list[ColumnElement[bool]] = []
    if query.roles:
        where.append(c.role.in_([role.value for role in query.roles]))
    if query.is_active is not None:
        where.append(c.is_active.is_(query.is_active))
    if query.q:
        where.append(or_(c.email.icontains(query.q, autoescape=True), c.name.icontains(query.q, autoescape=True)))
    if query.ids:
        where.append(c.id.in_(query.ids))
    return where


async def list_operators(session: AnySession, query: OperatorQuery) -> list[AdminUser]:
    """One page of operators in the query's order."""
    stmt = _paged(select(AdminUser).where(*_operator_conditions(query)), admin_users, query.page)
    return list((await session.execute(stmt)).scalars())


async def operator_by_email(session: AnySession, email: str) -> AdminUser | None:
    """The operator with this email, in any case (emails are unique regardless of case)."""
    stmt = select(AdminUser).where(func.lower(admin_users.c.email) == email.lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def count_operators(session: AnySession, query: OperatorQuery) -> int:
    """How many operators match the query's filters."""
    stmt = select(func.count()).select_from(admin_users).where(*_operator_conditions(query))
    return int((await session.execute(stmt)).scalar_one())


def _paged(stmt: Select[T], table: Table, page: Page) -> Select[T]:
    """`stmt` ordered by the page's order, whose fields are the table's columns (the API checked them), and cut."""
    order = [table.c[key.field].desc() if key.descending else table.c[key.field].asc() for key in page.order]
    return stmt.order_by(*order).limit(page.limit).offset(page.offset)


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


@dataclass(frozen=True)
class ApiKeyQuery:
    """A page of API keys and their filters (None: any)."""

    page: Page
    roles: list[Role] | None = None
    revoked: bool | None = None
    created_by: list[uuid.UUID] | None = None
    q: str | None = None
    ids: list[uuid.UUID] | None = None


def _api_key_conditions(query: ApiKeyQuery) -> list[ColumnElement[bool]]:
    c = api_keys.c
    where: list[ColumnElement[bool]] = []
    if query.roles:
        where.append(c.role.in_([role.value for role in query.roles]))
    if query.revoked is not None:
        where.append(c.revoked_at.is_not(None) if query.revoked else c.revoked_at.is_(None))
    if query.created_by:
        where.append(c.created_by.in_(query.created_by))
    if query.q:
        where.append(c.name.icontains(query.q, autoescape=True))
    if query.ids:
        where.append(c.id.in_(query.ids))
    return where


async def list_api_keys(session: AnySession, query: ApiKeyQuery) -> list[ApiKey]:
    """One page of API keys in the query's order."""
    stmt = _paged(select(ApiKey).where(*_api_key_conditions(query)), api_keys, query.page)
    return list((await session.execute(stmt)).scalars())


async def count_api_keys(session: AnySession, query: ApiKeyQuery) -> int:
    """How many API keys match the query's filters."""
    stmt = select(func.count()).select_from(api_keys).where(*_api_key_conditions(query))
    return int((await session.execute(stmt)).scalar_one())


async def revoke_api_key(session: AsyncWriteSession, key_id: uuid.UUID) -> ApiKey | None:
    """Revoke a key (once: a second revoke keeps the first time) and return it."""
    await session.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=func.now())
    )
    row = await session.get(ApiKey, key_id, populate_existing=True)
    return row
