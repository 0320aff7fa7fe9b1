"""Operators' sessions: a refresh token per login, rotated on every use, its family revoked on reuse.

A login starts a family and hands out its first refresh token (the console keeps it in an HttpOnly cookie).
`POST /auth/refresh` trades the token for a new access token and the family's next refresh token; the old one
is marked used. Presenting a used token again means two parties hold the family's tokens (a copy was stolen,
or a client replayed an old cookie), so the whole family is revoked and both must log in again (the OAuth 2.0
Security BCP's refresh token rotation). Two refreshes of one token at the same moment (two tabs, or a retry)
are told apart from a replay by time: the row is locked while it rotates, the second waits and then finds it
used less than CONCURRENT_USE_SECONDS ago, and gets a 409 to retry with the cookie the first one set.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.domain.audit.service import AuditTrail
from backend.domain.errors import ConflictError, DomainError, Unauthorized
from backend.domain.identity import Actor, ActorKind, AuditContext, Role
from backend.domain.refresh import repository
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure import security

# A used token presented again this soon after its rotation is a concurrent refresh, not a replay.
CONCURRENT_USE_SECONDS = 10
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    # 256 random bits: a fast hash is enough to keep the stored value useless to a reader of the table.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    secret: str
    access_ttl_seconds: int
    refresh_ttl_seconds: int  # a refresh token's life: the session ends after this long unused
    max_age_seconds: int  # a family's life from its login, however often it is refreshed


@dataclass(frozen=True)
class IssuedRefresh:
    """A refresh token to hand out (once), its family and when it expires."""

    token: str
    family_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True)
class Renewal:
    """An access token (with its lifetime) and the refresh token that replaces the presented one."""

    access_token: str
    expires_in: int
    refresh: IssuedRefresh


@dataclass(frozen=True)
class RefreshOutcome:
    """A renewal, or the error to answer with; errors are returned, so what they revoked is committed.

    `keep_cookie` is true only for a concurrent refresh: the client's cookie is already the newer one.
    """

    renewal: Renewal | None = None
    error: DomainError | None = None
    keep_cookie: bool = False


def _session_ended(detail: str) -> RefreshOutcome:
    return RefreshOutcome(error=Unauthorized(detail))


class RefreshService:
    """Starts, renews and ends refresh families, in the request's transaction."""

    def __init__(self, session: AsyncWriteSession, policy: SessionPolicy, request_id: str | None) -> None:
        self.session = session
        self.policy = policy
        self.request_id = request_id

    async def start(self, operator_id: uuid.UUID, token_version: int, now: datetime) -> IssuedRefresh:
        """A new family for a login (or a password change) and its first refresh token."""
        family_end = now + timedelta(seconds=self.policy.max_age_seconds)
        family_id = await repository.add_family(
            self.session, operator_id=operator_id, token_version=token_version, expires_at=family_end
        )
        return await self._issue(family_id, family_end, now)

    def access_token(self, operator_id: uuid.UUID, token_version: int, family_id: uuid.UUID, now: datetime) -> str:
        """An access token bound to the family: it stops working when the family is revoked."""
        ttl = self.policy.access_ttl_seconds
        return security.issue_token(operator_id, self.policy.secret, ttl, now, version=token_version, session=family_id)

    async def _issue(self, family_id: uuid.UUID, family_end: datetime, now: datetime) -> IssuedRefresh:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = min(now + timedelta(seconds=self.policy.refresh_ttl_seconds), family_end)
        await repository.add_token(
            self.session, token_hash=token_hash(token), family_id=family_id, expires_at=expires_at
        )
        return IssuedRefresh(token, family_id, expires_at)

    async def renew(self, token: str, now: datetime) -> RefreshOutcome:
        """A new access token and the family's next refresh token for an unused, unexpired one; 401 otherwise.

        A token used before (past the concurrency window) revokes its family; so does an operator whose password,
        role or active flag changed since the login (its token_version moved on).
        """
        hashed = token_hash(token)
        found = await repository.lock_presented(self.session, hashed)
        if found is None:
            return _session_ended("The session is unknown or has ended; log in again.")
        if found.family_revoked_at is not None:
            return _session_ended("The session has ended; log in again.")
        if found.used_at is not None:
            if now - found.used_at <= timedelta(seconds=CONCURRENT_USE_SECONDS):
                error = ConflictError(
                    "This session was refreshed by another request a moment ago; retry with the cookie it set.",
                    headers={"Retry-After": "1"},
                )
                return RefreshOutcome(error=error, keep_cookie=True)
            await self._revoke(found, "reuse", now, action="auth.refresh_reused")
            return _session_ended("This refresh token was used before: the session is revoked; log in again.")
        if found.token_expires_at <= now or found.family_expires_at <= now:
            return _session_ended("The session has expired; log in again.")
        if not found.operator_active or found.operator_version != found.family_version:
            await self._revoke(found, "operator_changed", now, action="auth.session_ended")
            return _session_ended("The operator's password, role or access changed since the login; log in again.")

        await repository.mark_used(self.session, hashed, now)
        refresh = await self._issue(found.family_id, found.family_expires_at, now)
        await self._audit(found).record("auth.refresh", "admin_user", found.operator_id, {})
        access = self.access_token(found.operator_id, found.family_version, found.family_id, now)
        return RefreshOutcome(Renewal(access, self.policy.access_ttl_seconds, refresh))

    async def end(self, token: str, now: datetime) -> None:
        """Logout: the presented token's family is revoked (whatever state the token is in); unknown ones are
        ignored, so logging out twice is harmless."""
        found = await repository.lock_presented(self.session, token_hash(token))
        if found is not None and found.family_revoked_at is None:
            await self._revoke(found, "logout", now, action="auth.logout")

    async def _revoke(self, found: repository.Presented, reason: str, now: datetime, *, action: str) -> None:
        if await repository.revoke_family(self.session, found.family_id, reason=reason, at=now):
            diff = {
                "session": {"before": str(found.family_id), "after": None},
                "reason": {"before": None, "after": reason},
            }
            await self._audit(found).record(action, "admin_user", found.operator_id, diff)

    def _audit(self, found: repository.Presented) -> AuditTrail:
        actor = Actor(ActorKind.operator, found.operator_id, Role(found.operator_role), found.operator_name)
        return AuditTrail(self.session, AuditContext(actor, self.request_id))


async def prune_expired(session: AsyncWriteSession, *, expired_before: datetime, limit: int) -> int:
    """Housekeeping: up to `limit` sessions past their max age deleted, with their tokens (a token of a session
    that is gone is unknown: 401, as for an expired one)."""
    return await repository.prune_expired(session, expired_before=expired_before, limit=limit)
