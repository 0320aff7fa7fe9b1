"""Authentication: operators log in for a short-lived token; internal tools present an API key."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.domain.actors import Actor, ActorKind, AuditContext
from backend.domain.admin.models import Role
from backend.domain.audit.service import AuditTrail
from backend.domain.auth import repository
from backend.domain.auth.schemas import LoginRequest, TokenRead
from backend.domain.errors import DomainError, Unauthorized
from backend.domain.sessions import AnySession, AsyncWriteSession, ReadSessionFactory
from backend.infrastructure import security

API_KEY_TOUCH_INTERVAL = timedelta(minutes=5)


class TooManyAttempts(DomainError):
    status = 429
    title = "Too many requests"


@dataclass(frozen=True)
class LoginPolicy:
    secret: str
    token_ttl_seconds: int
    max_failures: int
    window_seconds: int


@dataclass(frozen=True)
class LoginOutcome:
    """A token, or the error to answer with; failures are returned so their record is committed."""

    token: TokenRead | None = None
    error: DomainError | None = None


def _invalid_credentials() -> Unauthorized:
    return Unauthorized("Invalid email or password.")


class LoginService:
    def __init__(
        self, session: AsyncWriteSession, reads: ReadSessionFactory, policy: LoginPolicy, request_id: str | None
    ) -> None:
        self.session = session
        self.reads = reads  # READ ONLY sessions on the primary
        self.policy = policy
        self.request_id = request_id

    async def _throttled(self, session: AnySession, email: str, client: str, now: datetime) -> LoginOutcome | None:
        window_start = now - timedelta(seconds=self.policy.window_seconds)
        by_email, by_client = await repository.failures_since(session, email=email, client=client, since=window_start)
        if max(by_email, by_client) < self.policy.max_failures:
            return None
        oldest = await repository.oldest_failure_since(session, email=email, client=client, since=window_start)
        wait = (oldest or now) + timedelta(seconds=self.policy.window_seconds) - now
        retry_after = max(1, math.ceil(wait.total_seconds()))
        return LoginOutcome(
            error=TooManyAttempts("Too many failed logins; try again later.", headers={"Retry-After": str(retry_after)})
        )

    async def login(self, credentials: LoginRequest, client: str) -> LoginOutcome:
        """A token for valid credentials; the same 401 (after the same argon2 work) for any wrong pair.

        argon2 runs with no database connection held (tens of milliseconds of CPU, on the hashing pool): a
        quick read refuses throttled attempts first, and the decision is taken afterwards under a per-email
        lock that re-reads the count, so concurrent guesses still cannot outrun it.
        """
        email = credentials.email.strip().lower()
        now = datetime.now(UTC)
        async with self.reads() as look:
            if (throttled := await self._throttled(look, email, client, now)) is not None:
                return throttled
            operator = await repository.operator_by_email(look, email)
        valid = await security.verify_password(operator.password_hash if operator else None, credentials.password)

        await repository.lock_login(self.session, email)
        if (throttled := await self._throttled(self.session, email, client, now)) is not None:
            return throttled
        if operator is None or not valid or not operator.is_active:
            await repository.add_failure(self.session, email=email, client=client)
            actor = Actor(ActorKind.anonymous, None, None, email)
            await AuditTrail(self.session, AuditContext(actor, self.request_id)).record(
                "auth.login_failed",
                "admin_user",
                operator.id if operator else "unknown",
                {"email": {"before": None, "after": email}, "client": {"before": None, "after": client}},
            )
            return LoginOutcome(error=_invalid_credentials())

        await repository.clear_failures(
            self.session, email=email, before=now - timedelta(seconds=self.policy.window_seconds)
        )
        actor = Actor(ActorKind.operator, operator.id, operator.role, operator.name)
        await AuditTrail(self.session, AuditContext(actor, self.request_id)).record(
            "auth.login", "admin_user", operator.id, {}
        )
        token = security.issue_token(operator.id, self.policy.secret, self.policy.token_ttl_seconds, now)
        return LoginOutcome(token=TokenRead(access_token=token, expires_in=self.policy.token_ttl_seconds))


def token_claims(token: str, secret: str) -> security.TokenClaims:
    """The operator id a valid, unexpired token names, and when it expires; 401 for anything else."""
    try:
        return security.read_token(token, secret)
    except security.InvalidToken as exc:
        raise Unauthorized("The access token is invalid or expired.") from exc


async def actor_by_id(session: AnySession, operator_id: uuid.UUID) -> Actor:
    """The active operator with this id; 401 for anything else."""
    operator = await repository.identity_by_id(session, operator_id)
    if operator is None or not operator.is_active:
        raise Unauthorized("The access token's operator is unknown or deactivated.")
    return Actor(ActorKind.operator, operator.id, Role(operator.role), operator.name)


@dataclass(frozen=True)
class KeyCheck:
    actor: Actor
    needs_touch: bool  # last_used_at is stale enough to be worth a write


async def actor_from_api_key(session: AnySession, key: str) -> KeyCheck:
    """The role of a valid, unrevoked key; 401 for anything else."""
    prefix = security.api_key_prefix(key)
    row = await repository.api_key_by_prefix(session, prefix) if prefix else None
    if row is None or row.revoked_at is not None or not security.same_hash(row.key_hash, security.hash_api_key(key)):
        raise Unauthorized("The API key is invalid or revoked.")
    stale = row.last_used_at is None or row.last_used_at < datetime.now(UTC) - API_KEY_TOUCH_INTERVAL
    return KeyCheck(Actor(ActorKind.api_key, row.id, Role(row.role), row.name), needs_touch=stale)


async def touch_api_key(session: AsyncWriteSession, key_id: uuid.UUID) -> None:
    """Record a key's use, at most once per interval."""
    await repository.touch_api_key(session, key_id, older_than=datetime.now(UTC) - API_KEY_TOUCH_INTERVAL)


class IdentityCache:
    """Identities confirmed in the last `ttl` seconds, so that most requests skip the lookup on the primary.

    Deactivating an operator or revoking a key clears this process's cache once the change is committed;
    other processes notice within `ttl` seconds (AUTH_CACHE_SECONDS, 0 turns the cache off). A lookup that
    began before a clear is not kept: it may have read what the clear was for.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.generation = 0  # how many clears so far; a lookup notes it before it starts
        self._entries: dict[str, tuple[float, Actor]] = {}

    def get(self, key: str) -> Actor | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, actor: Actor, *, generation: int, until: datetime | None = None) -> None:
        """Keep `actor`, looked up since clear number `generation`, for `ttl` seconds and never past `until`."""
        if self.ttl > 0 and generation == self.generation:
            if len(self._entries) > 10_000:
                self._entries.clear()
            seconds = self.ttl if until is None else min(self.ttl, (until - datetime.now(UTC)).total_seconds())
            self._entries[key] = (time.monotonic() + seconds, actor)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1
