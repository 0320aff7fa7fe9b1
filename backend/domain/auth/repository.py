"""All SQL of authentication: operators and keys by their handles, and failed logins."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, or_, select, text, update

from backend.domain.admin.models import AdminUser, ApiKey
from backend.domain.auth.models import LoginFailure
from backend.domain.refresh.models import RefreshFamily
from backend.domain.sessions import AnySession, AsyncWriteSession

admin_users = AdminUser.__table__  # type: ignore[attr-defined]
api_keys = ApiKey.__table__  # type: ignore[attr-defined]
login_failures = LoginFailure.__table__  # type: ignore[attr-defined]
refresh_families = RefreshFamily.__table__  # type: ignore[attr-defined]


async def operator_by_id(session: AnySession, operator_id: uuid.UUID) -> AdminUser | None:
    return await session.get(AdminUser, operator_id)


async def set_password(
    session: AsyncWriteSession, operator_id: uuid.UUID, *, was: str, password_hash: str
) -> int | None:
    """Replace the hash if it is still `was` and the operator active, ending earlier tokens; the new token version.

    None when the operator was deactivated or their password changed since `was` was read.
    """
    c = admin_users.c
    stmt = (
        update(admin_users)
        .where(c.id == operator_id, c.password_hash == was, c.is_active.is_(True))
        .values(password_hash=password_hash, token_version=c.token_version + 1)
        .returning(c.token_version)
    )
    version: int | None = (await session.execute(stmt)).scalar_one_or_none()
    return version


async def rehash_password(session: AsyncWriteSession, operator_id: uuid.UUID, *, was: str, password_hash: str) -> None:
    """Replace the hash by one of the same password made with today's parameters, if it is still `was`; tokens stay
    valid (the password did not change)."""
    c = admin_users.c
    await session.execute(
        update(admin_users).where(c.id == operator_id, c.password_hash == was).values(password_hash=password_hash)
    )


@dataclass(frozen=True)
class Identity:
    id: uuid.UUID
    name: str
    role: str
    is_active: bool
    token_version: int
    session_ended: bool = False  # the token's refresh family is revoked (logout, reuse) or gone


async def identity_by_id(
    session: AnySession, operator_id: uuid.UUID, family_id: uuid.UUID | None = None
) -> Identity | None:
    """What authentication needs of an operator, in one light Core query (it runs on every request); with a
    token's refresh family, whether that family has ended, in the same statement."""
    c = admin_users.c
    columns = [c.id, c.name, c.role, c.is_active, c.token_version]
    if family_id is not None:
        f = refresh_families.c
        live = select(f.id).where(f.id == family_id, f.revoked_at.is_(None)).exists()
        columns.append(~live)
    row = (await session.execute(select(*columns).where(c.id == operator_id))).first()
    return Identity(*row) if row is not None else None


async def api_key_by_prefix(session: AnySession, prefix: str) -> ApiKey | None:
    stmt = select(ApiKey).where(api_keys.c.prefix == prefix)
    return (await session.execute(stmt)).scalar_one_or_none()


async def touch_api_key(session: AsyncWriteSession, key_id: uuid.UUID, *, older_than: datetime) -> None:
    """Set last_used_at to now unless it was set after `older_than` (so most uses write nothing)."""
    await session.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < older_than))
        .values(last_used_at=func.now())
    )


async def lock_login(session: AsyncWriteSession, email: str) -> None:
    """Serialise concurrent logins for one email, so that parallel guesses cannot outrun the count."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"login:{email.lower()}"})


@dataclass(frozen=True)
class FailureCounts:
    by_email: int  # for this email, from anywhere
    by_client: int  # from this client, for any email
    by_pair: int  # for this email from this client


async def failures_since(session: AnySession, *, email: str, client: str, since: datetime) -> FailureCounts:
    """Failed logins since `since` for this email, from this client address, and for both at once."""
    c = login_failures.c
    of_email, of_client = c.email == email.lower(), c.client == client
    stmt = select(
        func.count().filter(of_email), func.count().filter(of_client), func.count().filter(of_email & of_client)
    ).where(c.created_at >= since, or_(of_email, of_client))
    by_email, by_client, by_pair = (await session.execute(stmt)).one()
    return FailureCounts(int(by_email), int(by_client), int(by_pair))


async def oldest_failure_since(
    session: AnySession, *, since: datetime, email: str | None = None, client: str | None = None
) -> datetime | None:
    """The oldest failure since `since` for this email, or from this client address."""
    c = login_failures.c
    stmt = select(func.min(c.created_at)).where(c.created_at >= since)
    if email is not None:
        stmt = stmt.where(c.email == email.lower())
    if client is not None:
        stmt = stmt.where(c.client == client)
    value: datetime | None = (await session.execute(stmt)).scalar_one()
    return value


async def add_failure(session: AsyncWriteSession, *, email: str, client: str) -> None:
    await session.execute(insert(login_failures).values(email=email.lower(), client=client))


async def clear_failures(session: AsyncWriteSession, *, email: str, client: str, before: datetime) -> None:
    """Forget an email's failures from this client after a success there, and everyone's that are too old to count.

    Failures from other addresses stay: a correct password here says nothing about the guesses made elsewhere.
    """
    c = login_failures.c
    await session.execute(delete(login_failures).where(c.email == email.lower(), c.client == client))
    await session.execute(delete(login_failures).where(c.created_at < before))
