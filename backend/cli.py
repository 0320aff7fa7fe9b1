"""The `memberdesk` command: serve, migrate, create-admin, housekeep, and the commands of installed plugins.

Development commands (`dev`, `seed`) are not part of the runtime package: they come from the entry point group
PLUGIN_GROUP, which a checkout's development install provides (devtools/), and are loaded only when run. A
production install names them too (its metadata lists the entry points) but has neither their code nor their
dependencies, so running one ends with one line saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from backend.domain.identity import OPERATOR_ROLES, Role
from backend.infrastructure.settings import Settings

logger = logging.getLogger("memberdesk")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP = "backend.main:create_app"

PLUGIN_GROUP: Final = "memberdesk.commands"
"""Entry points naming more commands: each loads a callable that takes the command's own arguments."""

PluginCommand = Callable[[Sequence[str]], None]


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


async def housekeep(settings: Settings) -> None:
    """One housekeeping pass now, as each API process runs one every HOUSEKEEPING_INTERVAL_SECONDS."""
    from backend.infrastructure.database import Database, create_engine
    from backend.infrastructure.progress import Progress
    from backend.infrastructure.storage import Storage, s3_client
    from backend.runtime.housekeeping import CHORES, Housekeeper

    database = Database(create_engine(str(settings.database_url), settings))
    try:
        with Progress("Housekeeping", CHORES, unit="chores") as progress:
            async with s3_client(settings) as client:
                report = await Housekeeper(database, Storage(client, settings), settings).run_once(progress=progress)
    finally:
        await database.dispose()
    print(
        f"Removed {report.delivered_events:,} delivered outbox events, {report.idempotency_keys:,} idempotency keys,"
        f" {report.abandoned_uploads:,} abandoned uploads and {report.ended_sessions:,} ended sessions; lifted"
        f" {report.suspensions_lifted:,} suspensions that had run out."
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
    from backend.domain.admin.service import ensure_operator
    from backend.domain.errors import DomainError
    from backend.domain.identity import COMMAND_LINE, AuditContext
    from backend.infrastructure.database import Database, create_engine

    database = Database(create_engine(str(settings.database_url), settings))
    try:
        async with database.write_sessions() as session, session.begin():
            operator = await ensure_operator(
                session, AuditContext(COMMAND_LINE, None), email=email, name=name, role=role, password=password
            )
    except ValidationError as exc:
        raise SystemExit(f"memberdesk: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    except DomainError as exc:  # e.g. demoting the last active admin
        raise SystemExit(f"memberdesk: {exc.detail}") from None
    finally:
        await database.dispose()
    print(f"Operator {operator.email} ({operator.role.value}) is ready.")


def serve(host: str, port: int, workers: int, settings: Settings) -> None:
    """Run the API under uvicorn: in this process, or in `workers` processes with a socket each, with the
    bounds of HTTP_* on every request's head and body."""
    import uvicorn

    from backend.infrastructure.httpserver import HttpLimits, ServerConfig
    from backend.infrastructure.workers import STARTUP_FAILURE, run_workers, uvicorn_options

    limits = HttpLimits.from_settings(settings)
    if workers > 1:
        sys.exit(run_workers(APP, host, port, workers, timeout=settings.worker_timeout_seconds, limits=limits))
    server = uvicorn.Server(ServerConfig(APP, limits=limits, host=host, port=port, **uvicorn_options()))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run does


def plugin_commands() -> dict[str, EntryPoint]:
    """The commands that installed distributions add through PLUGIN_GROUP, by name (nothing is imported)."""
    return {entry.name: entry for entry in entry_points(group=PLUGIN_GROUP)}


def run_plugin(entry: EntryPoint, argv: Sequence[str]) -> None:
    """Load a plugin command and run it with its arguments; one line, not a traceback, when it is not installed."""
    try:
        loaded = entry.load()
    except ImportError as exc:
        raise SystemExit(
            f"memberdesk: `{entry.name}` is development tooling and is not installed here ({exc}); "
            "in a checkout of the repository, `make setup` (uv sync with the dev group) installs it"
        ) from None
    if not callable(loaded):
        raise SystemExit(f"memberdesk: the `{entry.name}` plugin ({entry.value}) is not a command")
    command: PluginCommand = loaded
    command(argv)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="memberdesk", description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="serve the API with the configured settings")
    serve_cmd.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve_cmd.add_argument("--workers", type=int, default=1)

    commands.add_parser("migrate", help="apply database migrations (alembic upgrade head)")

    admin_cmd = commands.add_parser("create-admin", help="create an operator (password from a prompt or stdin)")
    admin_cmd.add_argument("--email", required=True)
    admin_cmd.add_argument("--name", default=None)
    admin_cmd.add_argument("--role", choices=[role.value for role in OPERATOR_ROLES], default=Role.admin.value)

    commands.add_parser(
        "housekeep", help="one housekeeping pass now (old outbox events and keys, abandoned uploads, ended suspensions)"
    )

    plugins = {name: entry for name, entry in plugin_commands().items() if name not in commands.choices}
    for name, entry in plugins.items():  # a plugin parses its own arguments (`memberdesk dev --help`)
        commands.add_parser(name, help=f"from {entry.value} (`memberdesk {name} --help`)", add_help=False)

    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in plugins:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command in plugins:
        run_plugin(plugins[args.command], rest)
    elif args.command == "serve":
        from backend.infrastructure.observability import configure_logging

        settings = load_settings()
        if settings.log_format != "none":  # the supervisor's lines as the workers' (JSON in production)
            configure_logging(settings.log_level, json=settings.log_format == "json")
        serve(args.host, args.port, args.workers, settings)
    elif args.command == "migrate":
        migrate(str(load_settings().database_url))
    elif args.command == "create-admin":
        settings = load_settings()
        password = read_password()
        name = args.name or args.email.split("@")[0]
        asyncio.run(create_admin(settings, email=args.email, name=name, role=Role(args.role), password=password))
    elif args.command == "housekeep":
        asyncio.run(housekeep(load_settings()))


if __name__ == "__main__":
    main()
