"""The `memberdesk` command: dev, serve, migrate, create-admin, seed, housekeep."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from pydantic import ValidationError

from backend.domain.admin.models import Role
from backend.infrastructure.settings import Settings

logger = logging.getLogger("memberdesk")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_ROOT = PROJECT_ROOT / ".devdata"
DEV_DEMO_MEMBERS = 200
DEMO_EMAIL = "demo@memberdesk.dev"
APP = "backend.main:create_app"


def load_settings() -> Settings:
    """Settings from the environment, or exit with the names of the invalid ones."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"memberdesk: invalid settings: {problems}") from None


def migrate(database_url: str) -> None:
    """Apply every Alembic migration up to head."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def seed(settings: Settings, members: int, *, only_if_empty: bool = False) -> None:
    """Load `members` demo members with their relations and photo objects."""
    from backend.infrastructure.storage import s3_client
    from devtools.seed import seed_members

    conn = await asyncpg.connect(_asyncpg_dsn(str(settings.database_url)))
    try:
        if only_if_empty and await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users)"):
            print("Demo members already present: not seeding again.")
            return
        async with s3_client(settings) as client:
            report = await seed_members(conn, members=members, s3_client=client, bucket=settings.s3_bucket)
    finally:
        await conn.close()
    print(
        f"Seeded {report.members:,} members ({report.photos:,} photos, {report.documents:,} documents, "
        f"{report.photo_objects:,} objects) in {report.seconds:.1f} s "
        f"({report.members / max(report.seconds, 1e-9):,.0f} members/s)"
    )


async def housekeep(settings: Settings) -> None:
    """One housekeeping pass now, as each API process runs one every HOUSEKEEPING_INTERVAL_SECONDS."""
    from backend.domain.housekeeping.service import Housekeeper
    from backend.infrastructure.database import Database, create_engine
    from backend.infrastructure.storage import Storage, s3_client

    database = Database(create_engine(str(settings.database_url), settings))
    try:
        async with s3_client(settings) as client:
            report = await Housekeeper(database, Storage(client, settings), settings).run_once()
    finally:
        await database.dispose()
    print(
        f"Removed {report.delivered_events:,} delivered outbox events, {report.idempotency_keys:,} idempotency keys"
        f" and {report.abandoned_uploads:,} abandoned photo uploads."
    )


def read_password(prompt: str = "Password: ") -> str:
    """From a prompt on a terminal (asked twice), else the first line of stdin; never from argv."""
    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != password:
            raise SystemExit("memberdesk: the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


async def create_admin(settings: Settings, *, email: str, name: str, role: Role, password: str) -> None:
    """Create the operator, or reset its password and role when it exists."""
    from backend.domain.actors import COMMAND_LINE, AuditContext
    from backend.domain.admin.service import ensure_operator
    from backend.infrastructure.database import Database, create_engine

    database = Database(create_engine(str(settings.database_url), settings))
    try:
        async with database.write_sessions() as session, session.begin():
            operator = await ensure_operator(
                session, AuditContext(COMMAND_LINE, None), email=email, name=name, role=role, password=password
            )
    except ValidationError as exc:
        raise SystemExit(f"memberdesk: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    finally:
        await database.dispose()
    print(f"Operator {operator.email} ({operator.role.value}) is ready.")


def demo_password(root: Path) -> str:
    """The demo operator's password, made once per data directory and kept there."""
    path = root / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(15))
        path.chmod(0o600)
    return path.read_text().strip()


def serve(host: str, port: int, workers: int, *, reload: bool = False, worker_timeout: float = 30.0) -> None:
    """Run the API under uvicorn: in this process, or in `workers` processes with a socket each."""
    import uvicorn

    from backend.infrastructure.workers import run_workers, uvicorn_options

    if workers > 1 and not reload:
        sys.exit(run_workers(APP, host, port, workers, timeout=worker_timeout))
    uvicorn.run(APP, host=host, port=port, reload=reload, **uvicorn_options())


def _interrupt_on_terminate() -> None:
    """SIGTERM and SIGHUP end the command as Ctrl-C does, through its `finally`.

    uvicorn catches them to shut down, then raises the signal again under the handler it found: with the
    default one the process would die right there, leaving the embedded servers running.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for terminate in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(terminate, interrupt)


def dev(port: int, members: int, *, root: Path = DEV_ROOT, free_ports: bool = False) -> None:
    """Start the embedded services, migrate, seed once, serve; Ctrl-C (or SIGTERM) stops everything."""
    from devtools.services import DevServices, Ports

    _interrupt_on_terminate()
    services = DevServices(root, Ports.free() if free_ports else Ports.default())
    try:
        urls = services.start()
        env = {**urls.as_env(), "ENVIRONMENT": "development", "LOG_FORMAT": "console", "DEBUG_HEADERS": "true"}
        os.environ.update(env)
        settings = load_settings()
        migrate(str(settings.database_url))
        asyncio.run(seed(settings, members, only_if_empty=True))
        env["MEMBERDESK_DEMO_EMAIL"] = DEMO_EMAIL
        env["MEMBERDESK_DEMO_PASSWORD"] = password = demo_password(root)
        asyncio.run(create_admin(settings, email=DEMO_EMAIL, name="Demo Admin", role=Role.admin, password=password))
        env_file = root / "env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in sorted(env.items())))
        env_file.chmod(0o600)
        base = f"http://127.0.0.1:{port}"
        print(
            "\nMemberdesk is running (development)\n"
            f"  API docs     {base}/docs\n"
            f"  API          {base}/api/v1/admin/members\n"
            f"  Readiness    {base}/health/ready\n"
            f"  Primary      {urls.database_url}\n"
            f"  Replica      {', '.join(urls.replica_urls)}\n"
            f"  S3           {urls.s3_endpoint_url} (bucket {urls.s3_bucket})\n"
            f"  Login        {DEMO_EMAIL} / {env['MEMBERDESK_DEMO_PASSWORD']} (role admin)\n"
            f"  Settings     {env_file} (source it to point other tools here)\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        serve("127.0.0.1", port, 1)
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="memberdesk", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev_cmd = commands.add_parser("dev", help="embedded PostgreSQL primary + replica and S3, seeded, served")
    dev_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    dev_cmd.add_argument("--members", type=int, default=DEV_DEMO_MEMBERS, help="demo members on first start")
    dev_cmd.add_argument("--data", type=Path, default=DEV_ROOT, help="where the servers keep their data (.devdata)")
    dev_cmd.add_argument(
        "--free-ports", action="store_true", help="servers on free loopback ports (a second instance, say)"
    )

    serve_cmd = commands.add_parser("serve", help="serve the API with the configured settings")
    serve_cmd.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve_cmd.add_argument("--workers", type=int, default=1)

    commands.add_parser("migrate", help="apply database migrations (alembic upgrade head)")

    admin_cmd = commands.add_parser("create-admin", help="create an operator (password from a prompt or stdin)")
    admin_cmd.add_argument("--email", required=True)
    admin_cmd.add_argument("--name", default=None)
    admin_cmd.add_argument("--role", choices=[role.value for role in Role], default=Role.admin.value)

    commands.add_parser("housekeep", help="one housekeeping pass now (old outbox events and keys, abandoned uploads)")

    seed_cmd = commands.add_parser("seed", help="load demo members with COPY")
    seed_cmd.add_argument("--members", type=int, required=True)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command == "dev":
        dev(args.port, args.members, root=args.data.resolve(), free_ports=args.free_ports)
    elif args.command == "serve":
        from backend.infrastructure.observability import configure_logging

        settings = load_settings()
        if settings.log_format != "none":  # the supervisor's lines as the workers' (JSON in production)
            configure_logging(settings.log_level, json=settings.log_format == "json")
        serve(args.host, args.port, args.workers, worker_timeout=settings.worker_timeout_seconds)
    elif args.command == "migrate":
        migrate(str(load_settings().database_url))
    elif args.command == "create-admin":
        settings = load_settings()
        password = read_password()
        name = args.name or args.email.split("@")[0]
        asyncio.run(create_admin(settings, email=args.email, name=name, role=Role(args.role), password=password))
    elif args.command == "housekeep":
        asyncio.run(housekeep(load_settings()))
    elif args.command == "seed":
        asyncio.run(seed(load_settings(), args.members))


if __name__ == "__main__":
    main()
