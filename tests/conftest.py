"""The test session starts real services once: a PostgreSQL primary + streaming replica and an S3 server.

Migrations run once (alembic upgrade head, so the migrations themselves are tested), then a fixed set of
demo members is seeded and the replica is waited for. Read-path tests check the API against SQL ground
truth on that data; a test that writes makes its own rows and removes them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.cli import migrate
from backend.domain.admin.schemas import ApiKeyCreate, ApiKeyCreated, OperatorRead
from backend.domain.admin.service import AdminService, ensure_operator
from backend.domain.identity import COMMAND_LINE, OPERATOR_ROLES, Actor, ActorKind, AuditContext, Role
from backend.infrastructure.security import issue_token
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import s3_client
from backend.main import create_app
from devtools.pgbouncer import PgBouncer
from devtools.seed import SeedReport, seed_members
from devtools.services import DevServices, Ports, ServiceUrls
from tests.factories import remove_members_created_since

SEEDED_MEMBERS = 300


async def one(db: asyncpg.Connection, sql: str, *args: Any) -> asyncpg.Record:
    """The single row a ground-truth query returns."""
    row = await db.fetchrow(sql, *args)
    assert row is not None, sql
    return row


async def pairs(db: asyncpg.Connection, sql: str, *args: Any) -> dict[Any, Any]:
    """A two-column query as a dict."""
    return {r[0]: r[1] for r in await db.fetch(sql, *args)}


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy asyncpg URL as a plain asyncpg DSN."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


_OWN_BASETEMP = pytest.StashKey[str]()
_RUN_PASSED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    """Each run gets a temporary root of its own (unless --basetemp names one).

    The embedded PostgreSQL runs as the `postgres` user when we are root, so the directories above its data must
    stay traversable. pytest resets its shared `/tmp/pytest-of-<user>` to mode 0700 whenever a run starts, which
    cut a concurrent run's servers off their own files; a root per run is left alone. It is removed after a
    passing run and kept after a failing one, for its server logs.
    """
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="memberdesk-tests-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_OWN_BASETEMP, None)
    if root is not None and config.stash.get(_RUN_PASSED, False):
        shutil.rmtree(root, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_RUN_PASSED] = exitstatus == 0


@pytest.fixture(scope="session")
def dev_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServices]:
    services = DevServices(tmp_path_factory.mktemp("services"), Ports.free(), fast=True)
    services.start()
    try:
        yield services
    finally:
        services.stop()


@pytest.fixture(scope="session")
def services(dev_services: DevServices) -> ServiceUrls:
    urls = dev_services.start()  # already started: returns the same URLs
    return urls


# `MEMBERDESK_TEST_VIA_PGBOUNCER=1 pytest tests/api` runs the API tests with the primary behind a real
# PgBouncer in transaction mode (make test does both runs).
VIA_PGBOUNCER = os.environ.get("MEMBERDESK_TEST_VIA_PGBOUNCER") == "1"


@pytest.fixture(scope="session")
def primary_url(dev_services: DevServices, services: ServiceUrls) -> Iterator[str]:
    """The primary as the app reaches it: directly, or through PgBouncer."""
    if not VIA_PGBOUNCER:
        yield services.database_url
        return
    # Under the services' root, which the postgres user can reach (PgBouncer refuses root too).
    bouncer = PgBouncer(dev_services.root / "pgbouncer", services.database_url)
    try:
        yield bouncer.start()
    finally:
        bouncer.stop()


@pytest.fixture(scope="session")
def settings(services: ServiceUrls, primary_url: str) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        database_pgbouncer=VIA_PGBOUNCER,
        debug_headers=True,
        log_format="none",
        database_url=primary_url,
        database_replica_urls=list(services.replica_urls),
        s3_endpoint_url=services.s3_endpoint_url,
        s3_bucket=services.s3_bucket,
        s3_region=services.s3_region,
        s3_access_key_id=services.s3_access_key_id,
        s3_secret_access_key=services.s3_secret_access_key,
        admin_timezone="Asia/Seoul",
        jwt_secret="test-secret-" + "x" * 32,
        phone_block_secret=services.phone_block_secret,
        database_pool_size=5,
        housekeeping_interval_seconds=0,  # the tests run passes themselves
    )


async def wait_for_replica(services: ServiceUrls, timeout: float = 15.0) -> None:
    """Until every replica has replayed the primary's current WAL position."""
    primary = await asyncpg.connect(asyncpg_dsn(services.superuser_database_url))
    try:
        # The flush position: what has been (or can be) streamed. WAL that is only inserted (a hint-bit
        # record, say) may wait in the primary's buffers until the next commit.
        target = await primary.fetchval("SELECT pg_current_wal_flush_lsn()")
    finally:
        await primary.close()
    for url in services.superuser_replica_urls:
        replica = await asyncpg.connect(asyncpg_dsn(url))
        try:
            async with asyncio.timeout(timeout):
                while await replica.fetchval("SELECT pg_wal_lsn_diff($1, pg_last_wal_replay_lsn()) > 0", target):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            state = await replica.fetchrow(
                "SELECT pg_last_wal_receive_lsn() AS received, pg_last_wal_replay_lsn() AS replayed,"
                " pg_is_wal_replay_paused() AS paused"
            )
            raise AssertionError(f"replica did not reach {target} in {timeout} s: {dict(state or {})}") from None
        finally:
            await replica.close()


@pytest.fixture(scope="session")
def seeded_at() -> datetime:
    """The seed's `now`: seeded rows are created no later; rows the tests make come after."""
    return datetime.now(UTC) - timedelta(seconds=1)


@pytest.fixture(scope="session")
async def seeded(services: ServiceUrls, settings: Settings, seeded_at: datetime) -> SeedReport:
    """The schema at head and SEEDED_MEMBERS members with real photo objects, replayed on the replica."""
    await asyncio.to_thread(migrate, services.database_url)
    conn = await asyncpg.connect(asyncpg_dsn(services.database_url))
    try:
        async with s3_client(settings) as client:
            report = await seed_members(
                conn,
                members=SEEDED_MEMBERS,
                s3_client=client,
                bucket=settings.s3_bucket,
                objects_per_photo=True,
                now=seeded_at,
            )
    finally:
        await conn.close()
    await wait_for_replica(services)
    return report


@pytest.fixture(scope="session")
async def app(settings: Settings, seeded: SeedReport) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


OPERATOR_PASSWORD = "correct horse battery staple"


def operator_email(role: Role) -> str:
    return f"{role.value}@memberdesk.test"


@pytest.fixture(scope="session")
async def operators(app: FastAPI) -> dict[Role, OperatorRead]:
    """One active operator per operator role, password OPERATOR_PASSWORD."""
    database = app_state(app).database
    made = {}
    async with database.write_sessions() as session, session.begin():
        for role in OPERATOR_ROLES:
            made[role] = await ensure_operator(
                session,
                AuditContext(COMMAND_LINE, None),
                email=operator_email(role),
                name=f"Test {role.value}",
                role=role,
                password=OPERATOR_PASSWORD,
            )
    return made


@pytest.fixture(scope="session")
async def reporter_key(app: FastAPI, operators: dict[Role, OperatorRead]) -> ApiKeyCreated:
    """The app's backend: an API key with role reporter."""
    admin = operators[Role.admin]
    context = AuditContext(Actor(ActorKind.operator, admin.id, Role.admin, admin.name), None)
    async with app_state(app).database.write_sessions() as session, session.begin():
        return await AdminService(session, context).create_api_key(ApiKeyCreate(name="app backend", role=Role.reporter))


SESSION_TOKEN_SECONDS = 4 * 3600


@pytest.fixture(scope="session")
async def tokens(
    operators: dict[Role, OperatorRead], reporter_key: ApiKeyCreated, settings: Settings, db: asyncpg.Pool
) -> dict[Role, str]:
    """A bearer credential per role: operators' tokens (tests must not change these operators' passwords or roles:
    that ends their tokens), and for `reporter` an API key (`Authorization: Bearer mdk_...`)."""
    secret = settings.token_secret()
    ids = [op.id for op in operators.values()]
    rows = await db.fetch("SELECT id, token_version FROM admin_users WHERE id = ANY($1)", ids)
    versions = {row["id"]: row["token_version"] for row in rows}
    # Valid for the whole session: on a loaded machine the suite has run past JWT_TTL_SECONDS (15 minutes), and
    # the tests that come last (tests/test_serve.py) got 401s.
    lifetime = max(settings.jwt_ttl_seconds, SESSION_TOKEN_SECONDS)
    made = {role: issue_token(op.id, secret, lifetime, version=versions[op.id]) for role, op in operators.items()}
    assert reporter_key.key is not None
    return made | {Role.reporter: reporter_key.key}


def api_client(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 50000)),
        base_url="http://memberdesk.test",
        headers=headers,
    )


@pytest.fixture(scope="session")
async def client(app: FastAPI, tokens: dict[Role, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A viewer's client: every read is open to it."""
    async with api_client(app, {"Authorization": f"Bearer {tokens[Role.viewer]}"}) as c:
        yield c


@pytest.fixture(scope="session")
async def admin(app: FastAPI, tokens: dict[Role, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app, {"Authorization": f"Bearer {tokens[Role.admin]}"}) as c:
        yield c


@pytest.fixture(scope="session")
async def moderator(app: FastAPI, tokens: dict[Role, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app, {"Authorization": f"Bearer {tokens[Role.moderator]}"}) as c:
        yield c


@pytest.fixture(scope="module")
async def own_members(db: asyncpg.Connection) -> AsyncIterator[None]:
    """The members a module makes, removed after it (a module that makes many, or bans some, uses it: later
    modules count members and statuses)."""
    since = await db.fetchval("SELECT clock_timestamp()")
    yield
    await remove_members_created_since(db, since)


@pytest.fixture(scope="session")
async def anon(app: FastAPI, operators: dict[Role, OperatorRead]) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials (the test operators exist, to log in as)."""
    async with api_client(app) as c:
        yield c


@pytest.fixture(scope="session")
async def db(services: ServiceUrls, seeded: SeedReport) -> AsyncIterator[asyncpg.Pool]:
    """Superuser connections to the primary, for ground truth and for setting up cases.

    A pool (used like a connection: fetch, fetchval, execute) so that it outlives a primary restart.
    """
    pool = await asyncpg.create_pool(asyncpg_dsn(services.superuser_database_url), min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
