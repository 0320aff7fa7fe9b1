"""Authentication: operators log in for a short-lived token; internal tools present an API key."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.domain.admin import repository as admin_repository
from backend.domain.admin.models import AdminUser
from backend.domain.audit.service import AuditTrail
from backend.domain.auth import repository
from backend.domain.auth.schemas import LoginRequest, PasswordChange, TokenRead
from backend.domain.errors import (
    ConflictError,
    DomainError,
    PermissionDenied,
    ServiceUnavailable,
    Unauthorized,
)
from backend.domain.identity import Actor, ActorKind, AuditContext, Role
from backend.domain.refresh.service import IssuedRefresh, RefreshService
from backend.domain.sessions import AnySession, AsyncWriteSession, ReadSessionFactory
from backend.infrastructure import security
from backend.infrastructure.database import Database, ReadTarget
from backend.infrastructure.database_errors import is_unavailable

API_KEY_TOUCH_INTERVAL = timedelta(minutes=5)
LOGIN_RETRY_AFTER_SECONDS = 2  # after the throttle could not be checked or recorded
IPV6_CLIENT_PREFIX = 64

logger = logging.getLogger(__name__)


class TooManyAttempts(DomainError):
    status = 429
    title = "Too many requests"


class LoginUnavailable(ServiceUnavailable):
    """The throttle could not be read or written: the login is refused rather than let through unchecked."""

    def __init__(self) -> None:
        super().__init__(
            "Logins cannot be checked right now; try again shortly.",
            headers={"Retry-After": str(LOGIN_RETRY_AFTER_SECONDS)},
        )


@dataclass(frozen=True)
class ClientAddress:
    """Where an attempt comes from: `address` as the audit trail records it, `key` as the throttle counts it.

    Both fit the `login_failures.client` column (64 characters) whatever the client sent.
    """

    address: str
    key: str


UNKNOWN_CLIENT = ClientAddress("unknown", "unknown")


def client_address(host: str | None) -> ClientAddress:
    """The client's address in canonical form, or a fixed-form stand-in for anything that is not an address.

    uvicorn takes the client from X-Forwarded-For when the peer is a trusted proxy, without checking what it
    says. An IPv4 or IPv6 address is kept in canonical form (an IPv4-mapped IPv6 address as IPv4, without an
    IPv6 zone), so one address is one count however it is written; IPv6 is counted by its /64, the block a
    single subscriber or host holds, or every address of it would be a fresh client. Anything else (a name, a
    malformed or 70-character forwarded value) becomes `invalid-<hash>`: bounded, stable for the same value,
    and never stored as sent.
    """
    if not host:
        return UNKNOWN_CLIENT
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    if len(host) <= 64:
        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address(host.split("%", 1)[0])
    if ip is None:
        digest = hashlib.sha256(host.encode("utf-8", "backslashreplace")).hexdigest()[:24]
        stand_in = f"invalid-{digest}"
        return ClientAddress(stand_in, stand_in)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False)
        return ClientAddress(str(ip), str(network))
    return ClientAddress(str(ip), str(ip))


class PasswordCheckGate:
    """At most `limit` password checks in flight per client in this process; more are refused at once (429).

    argon2 runs on a small pool (security.HASHING_THREADS), first come first served: sixty concurrent logins
    from one address made a valid login from elsewhere wait behind all of them. With this gate a burst from
    one address holds at most `limit` places in that queue, so anyone else waits behind a few checks at most.
    One event loop per process: no lock is needed around the counts.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    @contextlib.contextmanager
    def slot(self, client: ClientAddress) -> Iterator[None]:
        """Hold one of the client's places for the duration; TooManyAttempts when they are all taken."""
        held = self._in_flight.get(client.key, 0)
        if held >= self.limit:
            raise TooManyAttempts(
                "Too many password checks under way from your address; try again in a moment.",
                headers={"Retry-After": "1"},
            )
        self._in_flight[client.key] = held + 1
        try:
            yield
        finally:
            left = self._in_flight[client.key] - 1
            if left:
                self._in_flight[client.key] = left
            else:
                del self._in_flight[client.key]


@dataclass(frozen=True)
class LoginPolicy:
    max_failures_per_email: int
    max_failures_per_client: int
    window_seconds: int


@dataclass(frozen=True)
class LoginOutcome:
    """A token, or the error to answer with; failures are returned so their record is committed."""

    token: TokenRead | None = None
    error: DomainError | None = None
    refresh: IssuedRefresh | None = None  # the new session's first refresh token, for the cookie


def _invalid_credentials() -> Unauthorized:
    return Unauthorized("Invalid email or password.")


@contextlib.asynccontextmanager
async def _fail_closed(step: str) -> AsyncIterator[None]:
    """Any error while the throttle is read or written refuses the login with a 503, never lets it through.

    A failure that was not recorded would not count against the next guess (a 70-character client address once
    made every failure a 500 that recorded nothing, and the right password still got in after any number of
    wrong ones), so nothing is answered but "try again" unless the throttle did its part.
    """
    try:
        yield
    except Exception as exc:
        logger.error("login refused: the throttle could not be %s", step, exc_info=exc)
        raise LoginUnavailable from exc


class LoginService:
    """Logins and password changes, throttled by failures per email and per client address, counted in PostgreSQL.

    The rules, and whom they stop:
    - 5 failures (LOGIN_MAX_FAILURES) for one email in the window stop the guessing of that account from every
      address that took part, from any number of addresses together. An address that never failed for that
      email still gets its attempt checked, so the attacker who fails five times on purpose to lock an admin
      out does not lock the admin out: the admin's own address has not failed. The price, taken knowingly: an
      attacker with many addresses gets one guess per fresh address per window; the per-address limit, IPv6
      counted by /64, and argon2 bound that, and passwords are at least 12 characters.
    - 50 failures (LOGIN_MAX_FAILURES_PER_CLIENT) from one address, for any emails, stop that address: password
      spraying across accounts. Wide, so that colleagues behind one office address do not lock each other out
      with their typos.
    - A correct password clears that email's failures from that address only; the guesses made elsewhere keep
      counting.
    """

    def __init__(
        self,
        session: AsyncWriteSession,
        reads: ReadSessionFactory,
        policy: LoginPolicy,
        gate: PasswordCheckGate,
        request_id: str | None,
        sessions: RefreshService,
    ) -> None:
        self.session = session
        self.sessions = sessions  # each login starts a refresh family; a password change starts a new one
        self.reads = reads  # READ ONLY sessions on the primary
        self.policy = policy
        self.gate = gate
        self.request_id = request_id

    async def _throttled(self, session: AnySession, email: str, client: str, now: datetime) -> LoginOutcome | None:
        window_start = now - timedelta(seconds=self.policy.window_seconds)
        counts = await repository.failures_since(session, email=email, client=client, since=window_start)
        if counts.by_client >= self.policy.max_failures_per_client:
            oldest = await repository.oldest_failure_since(session, since=window_start, client=client)
            detail = "Too many failed logins from your address; try again later."
        elif counts.by_email >= self.policy.max_failures_per_email and counts.by_pair > 0:
            oldest = await repository.oldest_failure_since(session, since=window_start, email=email)
            detail = "Too many failed logins for this account; try again later."
        else:
            return None
        wait = (oldest or now) + timedelta(seconds=self.policy.window_seconds) - now
        retry_after = max(1, math.ceil(wait.total_seconds()))
        return LoginOutcome(error=TooManyAttempts(detail, headers={"Retry-After": str(retry_after)}))

    async def login(self, credentials: LoginRequest, client: ClientAddress) -> LoginOutcome:
        """A token for valid credentials; the same 401 (after the same argon2 work) for any wrong pair.

        argon2 runs with no database connection held (tens of milliseconds of CPU, on the hashing pool): a
        quick read refuses throttled attempts first, and the decision is taken afterwards under a per-email
        lock that re-reads the count, so concurrent guesses still cannot outrun it.
        """
        email = credentials.email.strip().lower()
        now = datetime.now(UTC)
        with self.gate.slot(client):
            async with _fail_closed("read"), self.reads() as look:
                throttled = await self._throttled(look, email, client.key, now)
                operator = None if throttled else await admin_repository.operator_by_email(look, email)
            if throttled is not None:
                return throttled
            valid = await security.verify_password(operator.password_hash if operator else None, credentials.password)
            rehashed = (
                await security.hash_password(credentials.password)
                if valid and operator is not None and security.needs_rehash(operator.password_hash)
                else None
            )

        throttled = await self._throttled_under_lock(email, client, now)
        if throttled is not None:
            return throttled
        if operator is None or not valid or not operator.is_active:
            attempt = {"email": {"before": None, "after": email}, "client": {"before": None, "after": client.address}}
            failed_as = Actor(ActorKind.anonymous, None, None, email)
            entity = operator.id if operator else "unknown"
            await self._record_failure(failed_as, email, client, "auth.login_failed", entity, attempt)
            return LoginOutcome(error=_invalid_credentials())

        async with _fail_closed("recorded"):
            await self._clear_failures(email, client, now)
            if rehashed is not None:
                await repository.rehash_password(
                    self.session, operator.id, was=operator.password_hash, password_hash=rehashed
                )
            actor = Actor(ActorKind.operator, operator.id, operator.role, operator.name)
            await self._audit(actor).record(
                "auth.login", "admin_user", operator.id, {"client": {"before": None, "after": client.address}}
            )
        return await self._token(operator.id, operator.token_version, now)

    async def change_password(self, actor: Actor, data: PasswordChange, client: ClientAddress) -> LoginOutcome:
        """The calling operator's new password, given the current one; every earlier token ends, a fresh one is
        answered so the caller stays logged in.

        The current password is checked as a login checks it: the same throttle, and a wrong one counts as a
        failed login for the operator's email, so a stolen token cannot be used to guess the password faster.
        """
        if actor.kind is not ActorKind.operator or actor.id is None:
            raise PermissionDenied("Only an operator has a password to change; API keys are replaced instead.")
        now = datetime.now(UTC)
        with self.gate.slot(client):
            operator, throttled = await self._operator_and_throttle(actor.id, client, now)
            if throttled is not None:
                return throttled
            valid = await security.verify_password(operator.password_hash, data.current_password)
            new_hash = await security.hash_password(data.new_password) if valid else None

        email = operator.email.lower()
        throttled = await self._throttled_under_lock(email, client, now)
        if throttled is not None:
            return throttled
        if new_hash is None:
            attempt = {"client": {"before": None, "after": client.address}}
            await self._record_failure(actor, email, client, "auth.password_change_failed", operator.id, attempt)
            # 403, not 422: the body is valid (a client generated from the schema must not take it for a bug).
            return LoginOutcome(error=PermissionDenied("The current password is wrong.", field="current_password"))
        version = await self._replace_password(actor, operator, new_hash, client, now)
        if version is None:
            raise ConflictError("The password or the operator changed meanwhile; try again.", field="current_password")
        return await self._token(operator.id, version, now)

    async def _operator_and_throttle(
        self, operator_id: uuid.UUID, client: ClientAddress, now: datetime
    ) -> tuple[AdminUser, LoginOutcome | None]:
        """The operator (401 when unknown or deactivated), and whether attempts on its email are throttled."""
        async with _fail_closed("read"), self.reads() as look:
            operator = await repository.operator_by_id(look, operator_id)
            throttled = None
            if operator is not None:
                throttled = await self._throttled(look, operator.email, client.key, now)
        if operator is None or not operator.is_active:
            raise Unauthorized("The access token's operator is unknown or deactivated.")
        return operator, throttled

    async def _throttled_under_lock(self, email: str, client: ClientAddress, now: datetime) -> LoginOutcome | None:
        """The throttle read again in the request's transaction, under the email's lock: concurrent attempts on
        one email are decided one after another, each counting the failures recorded before it."""
        async with _fail_closed("read"):
            await repository.lock_login(self.session, email)
            return await self._throttled(self.session, email, client.key, now)

    async def _record_failure(
        self,
        actor: Actor,
        email: str,
        client: ClientAddress,
        action: str,
        entity_id: object,
        diff: dict[str, Any],  # as AuditTrail.record takes it
    ) -> None:
        """A failed attempt, counted against the email and the client, and audited."""
        async with _fail_closed("recorded"):
            await repository.add_failure(self.session, email=email, client=client.key)
            await self._audit(actor).record(action, "admin_user", entity_id, diff)

    async def _replace_password(
        self, actor: Actor, operator: AdminUser, new_hash: str, client: ClientAddress, now: datetime
    ) -> int | None:
        """The new hash, audited; the operator's new token version, or None when it changed meanwhile."""
        async with _fail_closed("recorded"):
            # Only over the hash just verified: a change made meanwhile (by an admin, say) is not overwritten.
            version = await repository.set_password(
                self.session, operator.id, was=operator.password_hash, password_hash=new_hash
            )
            if version is not None:
                await self._clear_failures(operator.email.lower(), client, now)
                await self._audit(actor).record(
                    "auth.password_changed",
                    "admin_user",
                    operator.id,
                    {
                        "password": {"before": "***", "after": "***"},
                        "client": {"before": None, "after": client.address},
                    },
                )
        return version

    async def _clear_failures(self, email: str, client: ClientAddress, now: datetime) -> None:
        before = now - timedelta(seconds=self.policy.window_seconds)
        await repository.clear_failures(self.session, email=email, client=client.key, before=before)

    def _audit(self, actor: Actor) -> AuditTrail:
        return AuditTrail(self.session, AuditContext(actor, self.request_id))

    async def _token(self, operator_id: uuid.UUID, version: int, now: datetime) -> LoginOutcome:
        """An access token bound to a new refresh family, and that family's first refresh token."""
        refresh = await self.sessions.start(operator_id, version, now)
        token = self.sessions.access_token(operator_id, version, refresh.family_id, now)
        ttl = self.sessions.policy.access_ttl_seconds
        return LoginOutcome(token=TokenRead(access_token=token, expires_in=ttl), refresh=refresh)


def token_claims(token: str, secret: str) -> security.TokenClaims:
    """The operator id a valid, unexpired token names, and when it expires; 401 for anything else."""
    try:
        return security.read_token(token, secret)
    except security.InvalidToken as exc:
        raise Unauthorized("The access token is invalid or expired.") from exc


async def actor_by_id(
    session: AnySession, operator_id: uuid.UUID, token_version: int, family_id: uuid.UUID | None = None
) -> Actor:
    """The active operator with this id, if the token was issued since its last password, role or status change
    (and its session, when it names one, was not ended by a logout or a refresh token's reuse)."""
    operator = await repository.identity_by_id(session, operator_id, family_id)
    if operator is None or not operator.is_active:
        raise Unauthorized("The access token's operator is unknown or deactivated.")
    if operator.token_version != token_version:
        raise Unauthorized("The operator's password or role changed since this token was issued; log in again.")
    if operator.session_ended:
        raise Unauthorized("The session of this access token has ended (logged out or revoked); log in again.")
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


async def identify(database: Database, key: str, claims: security.TokenClaims | None) -> KeyCheck:
    """The actor a token's `claims` (or else an API `key`) name, read on the primary, or on a replica while the
    primary is down.

    On the primary, so that deactivating an operator or revoking a key takes effect at once, even while replicas
    lag. A replica (seconds stale) stands in when the last probe found the primary down, or when this lookup
    finds it unreachable (and marks it down), so that reads go on without it.
    """
    if database.replicas and not database.monitor.primary_healthy:
        return await _identify_on_a_replica(database, key, claims)
    try:
        return await _identify_on(database.primary_reads, key, claims)
    except Exception as exc:
        if not database.replicas or not is_unavailable(exc):
            raise
        database.monitor.primary_healthy = False
        return await _identify_on_a_replica(database, key, claims)


async def _identify_on_a_replica(database: Database, key: str, claims: security.TokenClaims | None) -> KeyCheck:
    logger.warning("primary unavailable for authentication; using a replica")
    return await _identify_on(await database.read_target(), key, claims)


async def _identify_on(target: ReadTarget, key: str, claims: security.TokenClaims | None) -> KeyCheck:
    async with target.sessions() as session:
        if claims is not None:
            actor = await actor_by_id(session, claims.subject, claims.version, claims.session)
            return KeyCheck(actor, needs_touch=False)
        return await actor_from_api_key(session, key)


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
