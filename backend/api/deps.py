"""Dependencies, defined once as Annotated aliases so that route signatures read like sentences."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request

from backend.api.context import AVOID_REPLICAS, LSN_COOKIE, LSN_HEADER
from backend.api.idempotency import CLAIMED
from backend.domain.admin.service import AdminService
from backend.domain.audit.service import AuditService
from backend.domain.auth import service as auth_service
from backend.domain.auth.service import (
    ClientAddress,
    IdentityCache,
    LoginPolicy,
    LoginService,
    PasswordCheckGate,
    client_address,
)
from backend.domain.dashboard.service import DashboardService
from backend.domain.errors import PermissionDenied, Unauthorized
from backend.domain.health.service import HealthService
from backend.domain.idempotency import service as idempotency
from backend.domain.identity import Actor, AuditContext, Role
from backend.domain.member.loader import LoaderKind
from backend.domain.member.service import MemberService
from backend.domain.member.writes import MemberWriteService
from backend.domain.outbox.service import OUTBOX_PENDING
from backend.infrastructure import security
from backend.infrastructure.database import (
    AsyncReadSession,
    AsyncWriteSession,
    Database,
    ReadTarget,
)
from backend.infrastructure.replication import parse_lsn
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage

logger = logging.getLogger(__name__)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
StorageDep = Annotated[Storage, Depends(get_storage)]


def client_position(request: Request) -> int | None:
    """The WAL position of the client's last write, from the header or the cookie."""
    return parse_lsn(request.headers.get(LSN_HEADER) or request.cookies.get(LSN_COOKIE))


async def get_read_target(request: Request) -> ReadTarget:
    """The server this request reads from, chosen once so that all its sessions see the same server.

    A client that presents its last write's position reads from a replica that has replayed it, or from
    the primary.
    """
    database: Database = request.app.state.database
    avoid = getattr(request.state, AVOID_REPLICAS, ())
    target = await database.read_target(client_position(request), avoid)
    request.state.read_target = target.name
    return target


ReadTargetDep = Annotated[ReadTarget, Depends(get_read_target)]


async def get_read_session(target: ReadTargetDep) -> AsyncIterator[AsyncReadSession]:
    """A read-only session on the request's read target, closed when the endpoint returns."""
    async with target.sessions() as session:
        yield session


async def get_write_session(request: Request, database: DatabaseDep) -> AsyncIterator[AsyncWriteSession]:
    """The request's transaction on the primary: committed before the response is sent, rolled back on error.

    `scope="function"` ends the dependency when the endpoint returns, before the response goes out, so a
    commit that fails reaches the client as an error instead of a 200 for a write that was lost. Events the
    transaction put in the outbox are handed to the worker right after the commit.
    """
    async with database.write_sessions() as session:
        key = request.headers.get(idempotency.HEADER)
        actor: Actor | None = getattr(request.state, "actor", None)
        try:
            if key is not None and request.method == "POST" and actor is not None:
                await idempotency.claim(
                    session, actor=actor, key=key, method="POST", path=request.url.path, body=await request.body()
                )
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        if getattr(request.state, "identities_changed", False):
            request.app.state.identity_cache.clear()
        request.state.commit_lsn = await database.commit_position(session)
        if key is not None and request.method == "POST" and actor is not None:
            setattr(request.state, CLAIMED, key)
        if session.info.get(OUTBOX_PENDING):
            worker = getattr(request.app.state, "outbox_worker", None)
            if worker is not None:
                worker.nudge()


ReadSession = Annotated[AsyncReadSession, Depends(get_read_session, scope="function")]
WriteSession = Annotated[AsyncWriteSession, Depends(get_write_session, scope="function")]


# The read services take their server's session factory, settings and storage from the app's state
# themselves, instead of from one dependency each: every dependency FastAPI solves costs microseconds per
# request (a generator one several times more), and these are the hottest routes. They open a session per
# operation (see MemberService).
async def get_member_service(request: Request) -> MemberService:
    state = request.app.state
    settings: Settings = state.settings
    target = await get_read_target(request)
    return MemberService(target.sessions, state.storage, settings.tz, LoaderKind(settings.member_loader))


async def get_dashboard_service(request: Request) -> DashboardService:
    settings: Settings = request.app.state.settings
    return DashboardService((await get_read_target(request)).sessions, settings.tz)


async def get_health_service(database: DatabaseDep, storage: StorageDep) -> HealthService:
    return HealthService(database, storage)


MemberServiceDep = Annotated[MemberService, Depends(get_member_service)]
DashboardServiceDep = Annotated[DashboardService, Depends(get_dashboard_service)]
HealthServiceDep = Annotated[HealthService, Depends(get_health_service)]


def _credentials(request: Request) -> tuple[str, str] | None:
    """("api_key", key) or ("bearer", token) from X-API-Key or Authorization: Bearer."""
    if key := request.headers.get("x-api-key"):
        return "api_key", key.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        value = value.strip()
        return ("api_key" if value.startswith(f"{security.API_KEY_PREFIX}_") else "bearer"), value
    return None


async def _touch_api_key(database: Database, key_id: uuid.UUID) -> None:
    async with database.write_sessions() as session, session.begin():
        await auth_service.touch_api_key(session, key_id)


async def authenticate(request: Request, background: BackgroundTasks) -> Actor:
    """The caller, from a bearer token or an API key; 401 without valid credentials.

    Identities are looked up on the primary (auth_service.identify) and kept for a
    couple of seconds (AUTH_CACHE_SECONDS, never past a token's expiry) so that most requests skip that
    round trip and the token's verification. A key's last_used_at is written after the response, at most
    every few minutes, never on the request's path.
    """
    credentials = _credentials(request)
    if credentials is None:
        raise Unauthorized("Authentication required: send Authorization: Bearer <token> or X-API-Key.")
    kind, value = credentials
    state = request.app.state
    cache: IdentityCache = state.identity_cache
    cache_key = f"{kind}:{value}" if kind == "bearer" else f"api_key:{security.hash_api_key(value)}"
    actor = cache.get(cache_key)
    if actor is None:
        generation = cache.generation
        database: Database = state.database
        settings: Settings = state.settings
        claims = auth_service.token_claims(value, settings.token_secret()) if kind == "bearer" else None
        check = await auth_service.identify(database, value, claims)
        actor = check.actor
        cache.put(cache_key, actor, generation=generation, until=claims.expires_at if claims is not None else None)
        if check.needs_touch and actor.id is not None:
            background.add_task(_touch_api_key, database, actor.id)
    request.state.actor = actor
    return actor


def forget_identities(request: Request) -> None:
    """After an operator or key changed: once the request's transaction commits, this process stops trusting
    the identities it had confirmed (cleared any earlier, a lookup racing the commit could keep the old one)."""
    request.state.identities_changed = True


CurrentAdmin = Annotated[Actor, Depends(authenticate)]


def require(role: Role) -> Callable[[Request, BackgroundTasks], Awaitable[Actor]]:
    """A dependency that lets through actors of `role` or above, and answers 403 to the others.

    It authenticates the caller itself, once per request (the router's guard and a route's stricter one share
    the actor through request.state), rather than through a dependency on `authenticate`: one dependency
    fewer to solve on every admin request. Every dependency here is `async def`: FastAPI runs a plain `def`
    one in a worker thread, a costly hop.
    """

    async def check(request: Request, background: BackgroundTasks) -> Actor:
        actor: Actor | None = getattr(request.state, "actor", None)
        if actor is None:
            actor = await authenticate(request, background)
        if not actor.can(role):
            raise PermissionDenied(f"This needs the {role.value} role; you are {actor.role or 'nobody'}.")
        return actor

    check.minimum_role = role  # type: ignore[attr-defined]  # read by the route walk test
    return check


def _in_networks(request: Request, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    if not networks or request.client is None:
        return False
    try:
        address = ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in networks)


_require_viewer = require(Role.viewer)


async def require_scraper(request: Request, background: BackgroundTasks) -> None:
    """/metrics: open to everyone with METRICS_PUBLIC, to METRICS_ALLOWED_NETWORKS, else to viewers and keys."""
    settings: Settings = request.app.state.settings
    if settings.metrics_public or _in_networks(request, settings.metrics_allowed_networks):
        return
    await _require_viewer(request, background)


RequireViewer = Annotated[Actor, Depends(require(Role.viewer))]
RequireModerator = Annotated[Actor, Depends(require(Role.moderator))]
RequireAdmin = Annotated[Actor, Depends(require(Role.admin))]


async def get_audit_context(request: Request, actor: CurrentAdmin) -> AuditContext:
    return AuditContext(actor, getattr(request.state, "request_id", None))


AuditContextDep = Annotated[AuditContext, Depends(get_audit_context)]


async def get_admin_service(session: WriteSession, context: AuditContextDep) -> AdminService:
    return AdminService(session, context)


async def get_audit_service(
    request: Request, background: BackgroundTasks, session: ReadSession, settings: SettingsDep
) -> AuditService:
    # The router's guard has authenticated the caller already: its actor is reused, not looked up again.
    actor: Actor | None = getattr(request.state, "actor", None)
    return AuditService(session, settings.tz, actor or await authenticate(request, background))


async def get_client_address(request: Request) -> ClientAddress:
    """The client's address (from a trusted proxy's X-Forwarded-For under `serve`), validated and normalised."""
    return client_address(request.client.host if request.client else None)


ClientAddressDep = Annotated[ClientAddress, Depends(get_client_address)]


async def get_login_service(
    request: Request, session: WriteSession, database: DatabaseDep, settings: SettingsDep
) -> LoginService:
    policy = LoginPolicy(
        secret=settings.token_secret(),
        token_ttl_seconds=settings.jwt_ttl_seconds,
        max_failures_per_email=settings.login_max_failures,
        max_failures_per_client=settings.login_max_failures_per_client,
        window_seconds=settings.login_window_seconds,
    )
    gate: PasswordCheckGate = request.app.state.password_checks
    return LoginService(
        session, database.primary_reads.sessions, policy, gate, getattr(request.state, "request_id", None)
    )


async def get_member_writer(session: WriteSession, context: AuditContextDep, storage: StorageDep) -> MemberWriteService:
    return MemberWriteService(session, context, storage)


AdminServiceDep = Annotated[AdminService, Depends(get_admin_service)]
MemberWriterDep = Annotated[MemberWriteService, Depends(get_member_writer)]
AuditServiceDep = Annotated[AuditService, Depends(get_audit_service)]
LoginServiceDep = Annotated[LoginService, Depends(get_login_service)]
