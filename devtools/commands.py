"""`memberdesk dev` and `memberdesk seed`: the development commands, added through the `memberdesk.commands`
entry point group (pyproject.toml), so that `backend/` never imports this package.

Each takes its own arguments (`memberdesk dev --help`). Importing this module imports the embedded services and
the seed, and with them the development dependencies (Pillow, fpdf2, Faker): where they are missing, `memberdesk`
says so in one line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from backend.cli import create_admin, load_settings, migrate, serve
from backend.domain.identity import Role
from backend.infrastructure.progress import Progress
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import s3_client
from devtools.seed import seed_members
from devtools.services import DevServices, Ports

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_ROOT = PROJECT_ROOT / ".devdata"
DEV_DEMO_MEMBERS = 200
DEMO_EMAIL = "demo@memberdesk.dev"


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def seed_database(settings: Settings, members: int, *, only_if_empty: bool = False) -> None:
    """Load `members` demo members with their relations and photo objects."""
    conn = await asyncpg.connect(_asyncpg_dsn(str(settings.database_url)))
    try:
        if only_if_empty and await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users)"):
            print("Demo members already present: not seeding again.")
            return
        with Progress("Seeding", members, unit="members") as progress:
            async with s3_client(settings) as client:
                report = await seed_members(
                    conn, members=members, s3_client=client, bucket=settings.s3_bucket, progress=progress
                )
    finally:
        await conn.close()
    print(
        f"Seeded {report.members:,} members ({report.photos:,} photos, {report.documents:,} documents, "
        f"{report.photo_objects:,} objects) in {report.seconds:.1f} s "
        f"({report.members / max(report.seconds, 1e-9):,.0f} members/s)"
    )


def demo_password(root: Path) -> str:
    """The demo operator's password, made once per data directory and kept there."""
    path = root / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(15))
        path.chmod(0o600)
    return path.read_text().strip()


def _interrupt_on_terminate() -> None:
    """SIGTERM and SIGHUP end the command as Ctrl-C does, through its `finally`.

    uvicorn catches them to shut down, then raises the signal again under the handler it found: with the
    default one the process would die right there, leaving the embedded servers running.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for terminate in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(terminate, interrupt)


def run_dev(port: int, members: int, *, root: Path = DEV_ROOT, free_ports: bool = False) -> None:
    """Start the embedded services, migrate, seed once, serve; Ctrl-C (or SIGTERM) stops everything."""
    _interrupt_on_terminate()
    services = DevServices(root, Ports.free() if free_ports else Ports.default())
    try:
        urls = services.start()
        env = {**urls.as_env(), "ENVIRONMENT": "development", "LOG_FORMAT": "console", "DEBUG_HEADERS": "true"}
        os.environ.update(env)
        settings = load_settings()
        migrate(str(settings.database_url))
        asyncio.run(seed_database(settings, members, only_if_empty=True))
        env["MEMBERDESK_DEMO_EMAIL"] = DEMO_EMAIL
        env["MEMBERDESK_DEMO_PASSWORD"] = password = demo_password(root)
        asyncio.run(create_admin(settings, email=DEMO_EMAIL, name="Demo Admin", role=Role.admin, password=password))
        env_file = root / "env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in sorted(env.items())))
        env_file.chmod(0o600)
        base = f"http://127.0.0.1:{port}"
        print(
            "\nMemberdesk is running (development)\n"
            f"  Console      {base}/console/  (log in as {DEMO_EMAIL} / {env['MEMBERDESK_DEMO_PASSWORD']})\n"
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
        serve("127.0.0.1", port, 1, settings)
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()


def dev(argv: Sequence[str]) -> None:
    """`memberdesk dev`: embedded PostgreSQL primary + replica and S3, migrated, seeded once, served."""
    parser = argparse.ArgumentParser(prog="memberdesk dev", description=dev.__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--members", type=int, default=DEV_DEMO_MEMBERS, help="demo members on first start")
    parser.add_argument("--data", type=Path, default=DEV_ROOT, help="where the servers keep their data (.devdata)")
    parser.add_argument(
        "--free-ports", action="store_true", help="servers on free loopback ports (a second instance, say)"
    )
    args = parser.parse_args(argv)
    run_dev(args.port, args.members, root=args.data.resolve(), free_ports=args.free_ports)


def seed(argv: Sequence[str]) -> None:
    """`memberdesk seed`: load demo members with their relations through COPY into DATABASE_URL."""
    parser = argparse.ArgumentParser(prog="memberdesk seed", description=seed.__doc__)
    parser.add_argument("--members", type=int, required=True)
    args = parser.parse_args(argv)
    asyncio.run(seed_database(load_settings(), args.members))
