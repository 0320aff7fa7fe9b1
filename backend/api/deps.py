"""Dependencies, defined once as Annotated aliases so that route signatures read like sentences.

They read the app's and the request's state through backend/api/state.py. Every dependency here is `async def`:
FastAPI runs a plain `def` one in a worker thread, a costly hop.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request

from backend.api.context import LSN_COOKIE, LSN_HEADER
from backend.api.state import AppState, RequestState, app_state, request_state
from backend.domain.admin.service import AdminService
from backend.domain.audit.service import AuditService
from backend.domain.auth import service as auth_service
from backend.domain.auth.service import ClientAddress, LoginPolicy, LoginService, client_address
from backend.domain.dashboard.service import DashboardService
from backend.domain.errors import PermissionDenied, Unauthorized
from backend.domain.health.service import HealthService
from backend.domain.idempotency import service as idempotency
from backend.domain.identity import Actor, AuditContext, Role
from backend.domain.member.loader import LoaderKind
from backend.domain.member.service import MemberService
from backend.domain.member.writes import MemberWriteService, NoteWriter
from backend.domain.outbox.service import OUTBOX_PENDING
from backend.domain.queue.service import QueueService
from backend.domain.refresh.service import RefreshService, SessionPolicy
from backend.domain.report.service import ReportService
from backend.domain.review.service import ReviewService
from backend.domain.sessions import OneStatement, WriteTarget
from backend.infrastructure import security
from backend.infrastructure.database import AsyncReadSession, AsyncWriteSession, Database, ReadTarget
from backend.infrastructure.replication import parse_lsn
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage


async def get_settings(request: Request) -> Settings:
    return app_state(request.app).settings


async def get_database(request: Request) -> Database:
    return app_state(request.app).database


async def get_storage(request: Request) -> Storage:
    return app_state(request.app).storage


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
    return await _choose_read_target(request, app_state(request.app).database)


async def _choose_read_target(request: Request, database: Database) -> ReadTarget:
    state = request_state(request)
    target = await database.read_target(client_position(request), state.avoid_replicas)
    state.read_target = target.name
    return target


ReadTargetDep = Annotated[ReadTarget, Depends(get_read_target)]


async def get_read_session(target: ReadTargetDep) -> AsyncIterator[AsyncReadSession]:
    """A read-only session on the request's read target, closed when the endpoint returns."""
    async with target.sessions() as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[AsyncWriteSession]:
    """The request's transaction on the primary: committed before the response is sent, rolled back on error.

    `scope="function"` ends the dependency when the endpoint returns, before the response goes out, so a
    commit that fails reaches the client as an error instead of a 200 for a write that was lost. In order: the
    request's Idempotency-Key is claimed in the transaction, the endpoint runs, the transaction commits, and
    then what the commit makes true is passed on (see _after_commit).
    """
    async with _write_transaction(request) as session:
        yield session


@asynccontextmanager
async def _write_transaction(request: Request) -> AsyncIterator[AsyncWriteSession]:
    """`get_write_session`'s transaction, for the dependencies that open it themselves (`member_writer`)."""
    app, state = app_state(request.app), request_state(request)
    key = _idempotency_key(request, state)
    async with app.database.write_session() as session:
        try:
            if key is not None:
                await _claim(request, state, session, key)
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        await _after_commit(app, state, session, key)


def _idempotency_key(request: Request, state: RequestState) -> str | None:
    """The Idempotency-Key of a POST by a known caller: the only requests that claim one."""
    if request.method != "POST" or state.actor is None:
        return None
    return request.headers.get(idempotency.HEADER)


async def _claim(request: Request, state: RequestState, session: AsyncWriteSession, key: str) -> None:
    """The key claimed in the request's transaction (Replay when it was answered before, or 409 / 422)."""
    body = await request.body()
    await idempotency.claim(session, actor=state.actor, key=key, method="POST", path=request.url.path, body=body)


@asynccontextmanager
async def _write_alone(request: Request) -> AsyncIterator[OneStatement]:
    """A write of one statement on its own (`Database.one_statement`: no transaction around it), then what its commit
    makes true, as after `_write_transaction`'s. It claims no Idempotency-Key: a claim would be a second statement."""
    app, state = app_state(request.app), request_state(request)
    async with app.database.one_statement() as statement:
        yield statement
        await _after_commit(app, state, statement, None)


async def _after_commit(
    app: AppState, state: RequestState, written: AsyncWriteSession | OneStatement, key: str | None
) -> None:
    """What a commit makes true, passed on: the identity cache is cleared when operators or keys changed, the
    commit's position goes out with the answer (read-your-writes), the claimed key has its answer stored
    (api/idempotency.py), and events put in the outbox are handed to the worker (a write alone puts none there:
    the outbox's `enqueue` takes a session)."""
    if state.identities_changed:
        app.identity_cache.clear()
    state.commit_lsn = await app.database.position_after_commit(written)
    state.idempotency_key = key
    if isinstance(written, AsyncWriteSession) and written.info.get(OUTBOX_PENDING):
        app.outbox_worker.nudge()


ReadSession = Annotated[AsyncReadSession, Depends(get_read_session, scope="function")]
WriteSession = Annotated[AsyncWriteSession, Depends(get_write_session, scope="function")]


# The read services take their server's session factory, settings and storage from the app's state
# themselves, instead of from one dependency each: every dependency FastAPI solves costs microseconds per
# request (a generator one several times more), and these are the hottest routes. They open a session per
# operation (see MemberService).
async def get_member_service(request: Request) -> MemberService:
    app = app_state(request.app)
    settings = app.settings
    target = await _choose_read_target(request, app.database)
    return MemberService(target.sessions, app.storage, settings.tz, LoaderKind(settings.member_loader))


async def get_queue_service(request: Request) -> QueueService:
    app = app_state(request.app)
    return QueueService((await _choose_read_target(request, app.database)).sessions, app.storage)


async def get_dashboard_service(request: Request) -> DashboardService:
    app = app_state(request.app)
    return DashboardService((await _choose_read_target(request, app.database)).sessions, app.settings.tz)


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


async def authenticate(request: Request, background: BackgroundTasks) -> Actor:
    """The caller, from a bearer token or an API key; 401 without valid credentials.

    Identities are looked up on the primary (auth_service.identify) and kept for a couple of seconds
    (AUTH_CACHE_SECONDS, never past a token's expiry) so that most requests skip that round trip and the
    token's verification.
    """
    credentials = _credentials(request)
    if credentials is None:
        raise Unauthorized("Authentication required: send Authorization: Bearer <token> or X-API-Key.")
    kind, value = credentials
    app = app_state(request.app)
    cache_key = f"{kind}:{value}" if kind == "bearer" else f"api_key:{security.hash_api_key(value)}"
    actor = app.identity_cache.get(cache_key)
    if actor is None:
        actor = await _look_up(app, kind, value, cache_key, background)
    request_state(request).actor = actor
    return actor


async def _look_up(app: AppState, kind: str, value: str, cache_key: str, background: BackgroundTasks) -> Actor:
    """An identity the cache did not have: looked up, kept, and a key's last_used_at written after the response
    (at most every few minutes, never on the request's path)."""
    cache = app.identity_cache
    generation = cache.generation
    claims = auth_service.token_claims(value, app.settings.token_secret()) if kind == "bearer" else None
    check = await auth_service.identify(app.database, value, claims)
    cache.put(cache_key, check.actor, generation=generation, until=claims.expires_at if claims is not None else None)
    if check.needs_touch and check.actor.id is not None:
        background.add_task(_touch_api_key, app.database, check.actor.id)
    return check.actor


async def _touch_api_key(database: Database, key_id: uuid.UUID) -> None:
    async with database.write_sessions() as session, session.begin():
        await auth_service.touch_api_key(session, key_id)


def forget_identities(request: Request) -> None:
    """After an operator or key changed: once the request's transaction commits, this process stops trusting
    the identities it had confirmed (cleared any earlier, a lookup racing the commit could keep the old one)."""
    request_state(request).identities_changed = True


CurrentAdmin = Annotated[Actor, Depends(authenticate)]


async def request_actor(request: Request, background: BackgroundTasks) -> Actor:
    """The caller: the actor the router's guard authenticated for this request (reused, not looked up again), or
    authenticated now."""
    return request_state(request).actor or await authenticate(request, background)


def require(role: Role) -> Callable[[Request, BackgroundTasks], Awaitable[Actor]]:
    """A dependency that lets through actors of `role` or above, and answers 403 to the others.

    It authenticates the caller itself, once per request (the router's guard and a route's stricter one share
    the actor through the request's state), rather than through a dependency on `authenticate`: one dependency
    fewer to solve on every admin request.
    """

    async def check(request: Request, background: BackgroundTasks) -> Actor:
        actor = await request_actor(request, background)
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
    settings = app_state(request.app).settings
    if settings.metrics_public or _in_networks(request, settings.metrics_allowed_networks):
        return
    await _require_viewer(request, background)


RequireViewer = Annotated[Actor, Depends(require(Role.viewer))]
RequireModerator = Annotated[Actor, Depends(require(Role.moderator))]
RequireAdmin = Annotated[Actor, Depends(require(Role.admin))]
# Filing reports: the app's reporter key, or an operator who moderates (a viewer only reads).
RequireReporter = Annotated[Actor, Depends(require(Role.reporter))]


async def get_audit_context(request: Request, background: BackgroundTasks) -> AuditContext:
    """Who is writing (`request_actor`), and in which request."""
    return AuditContext(await request_actor(request, background), request_state(request).request_id)


AuditContextDep = Annotated[AuditContext, Depends(get_audit_context)]


async def get_admin_service(session: WriteSession, context: AuditContextDep) -> AdminService:
    return AdminService(session, context)


async def get_audit_service(
    request: Request, background: BackgroundTasks, session: ReadSession, settings: SettingsDep
) -> AuditService:
    return AuditService(session, settings.tz, await request_actor(request, background))


async def get_client_address(request: Request) -> ClientAddress:
    """The client's address (from a trusted proxy's X-Forwarded-For under `serve`), validated and normalised."""
    return client_address(request.client.host if request.client else None)


ClientAddressDep = Annotated[ClientAddress, Depends(get_client_address)]


async def get_login_service(request: Request, session: WriteSession) -> LoginService:
    app = app_state(request.app)
    settings = app.settings
    policy = LoginPolicy(
        max_failures_per_email=settings.login_max_failures,
        max_failures_per_client=settings.login_max_failures_per_client,
        window_seconds=settings.login_window_seconds,
    )
    reads = app.database.primary_reads.sessions
    request_id = request_state(request).request_id
    sessions = _refresh_service(settings, session, request_id)
    return LoginService(session, reads, policy, app.password_checks, request_id, sessions)


def _refresh_service(settings: Settings, session: AsyncWriteSession, request_id: str | None) -> RefreshService:
    policy = SessionPolicy(
        secret=settings.token_secret(),
        access_ttl_seconds=settings.jwt_ttl_seconds,
        refresh_ttl_seconds=settings.refresh_ttl_seconds,
        max_age_seconds=settings.refresh_max_age_seconds,
    )
    return RefreshService(session, policy, request_id)


async def get_refresh_service(request: Request, session: WriteSession) -> RefreshService:
    return _refresh_service(app_state(request.app).settings, session, request_state(request).request_id)


async def get_member_writers(
    request: Request, background: BackgroundTasks
) -> Callable[[AsyncWriteSession], MemberWriteService]:
    """Member writers on sessions a route opens itself (a bulk decision: a transaction per member).

    The context, storage and settings from the request and the app's state, not from a dependency each: every
    write of a member solves this (through `member_writer`), and each dependency solved costs microseconds
    (see the read services)."""
    app = app_state(request.app)
    context = await get_audit_context(request, background)
    phone_key = app.settings.phone_block_key()
    return lambda session: MemberWriteService(session, context, app.storage, phone_key)


def member_writer(role: Role) -> Callable[[Request, BackgroundTasks], AsyncIterator[MemberWriteService]]:
    """A dependency that lets through actors of `role` or above (as `require`), then opens the request's transaction
    (as `get_write_session`) and gives the member writer in it.

    One dependency where a route had three (its role, the writer, the session): each one solved costs FastAPI tens of
    microseconds, and every write on a member solves them (docs/decisions.md, "Writes below SQLAlchemy's execution").
    The role comes first, so that a caller without it is refused before a connection is taken or a key claimed."""
    check = require(role)

    async def writer(request: Request, background: BackgroundTasks) -> AsyncIterator[MemberWriteService]:
        await check(request, background)
        writers = await get_member_writers(request, background)
        async with _write_transaction(request) as session:
            yield writers(session)

    writer.minimum_role = role  # type: ignore[attr-defined]  # as require's
    return writer


_require_moderator = require(Role.moderator)


async def note_writer(request: Request, background: BackgroundTasks) -> AsyncIterator[NoteWriter]:
    """A moderator's note writer. The note is one statement, so it is written alone (`Database.one_statement`: one
    round trip where a transaction takes three, and no ORM session), its position read after it as a commit's; in the
    request's transaction instead when the request claims an Idempotency-Key (the claim and the note commit
    together), and behind PgBouncer. The role comes first, as `member_writer`'s."""
    await _require_moderator(request, background)
    keyed = _idempotency_key(request, request_state(request)) is not None
    alone = not keyed and app_state(request.app).database.writes_statements_alone
    context = await get_audit_context(request, background)
    writing: AbstractAsyncContextManager[WriteTarget] = _write_alone(request) if alone else _write_transaction(request)
    async with writing as target:
        yield NoteWriter(target, context)


note_writer.minimum_role = Role.moderator  # type: ignore[attr-defined]  # as require's


async def get_report_service(session: WriteSession, context: AuditContextDep) -> ReportService:
    return ReportService(session, context)


async def get_review_service(
    session: WriteSession, context: AuditContextDep, storage: StorageDep, settings: SettingsDep
) -> ReviewService:
    return ReviewService(session, context, storage, claim_seconds=settings.review_claim_seconds)


AdminServiceDep = Annotated[AdminService, Depends(get_admin_service)]
MemberWritersDep = Annotated[Callable[[AsyncWriteSession], MemberWriteService], Depends(get_member_writers)]
ReportServiceDep = Annotated[ReportService, Depends(get_report_service)]
ReviewServiceDep = Annotated[ReviewService, Depends(get_review_service)]
ModeratorWriter = Annotated[MemberWriteService, Depends(member_writer(Role.moderator), scope="function")]
AdminWriter = Annotated[MemberWriteService, Depends(member_writer(Role.admin), scope="function")]
NoteWriterDep = Annotated[NoteWriter, Depends(note_writer, scope="function")]
AuditServiceDep = Annotated[AuditService, Depends(get_audit_service)]
LoginServiceDep = Annotated[LoginService, Depends(get_login_service)]
RefreshServiceDep = Annotated[RefreshService, Depends(get_refresh_service)]
