"""Schemathesis over the app's own OpenAPI, against a real `memberdesk serve`, with every check.

`--checks all`: no 5xx, every answer as documented (status, content type, headers, schema), schema-valid
requests accepted and schema-violating ones refused, undeclared methods answered 405 with their Allow, auth
not ignored, deleted resources gone; positive and negative data, then the stateful phase along the document's
links (create a member, then read, edit, review and delete it). tests/schemathesis.toml and
tests/schemathesis_hooks.py hold what the document cannot state.

The run gets a database, a server and an admin of its own: the stateful phase edits, deactivates and demotes
operators (its own included, until the last-admin guard of issue 11 item 8 refuses that) and deletes members,
none of which may reach the rest of the suite.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from backend.cli import create_admin
from backend.domain.identity import Role
from backend.infrastructure.security import issue_token
from backend.infrastructure.settings import Settings
from devtools.services import ServiceUrls
from tests.conftest import asyncpg_dsn, wait_for_replica
from tests.servers import own_database, serve

DATABASE = "memberdesk_schemathesis"
MEMBERS = 40
EMAIL = "schemathesis@memberdesk.test"
PASSWORD = "schemathesis runs as its own admin"
MAX_EXAMPLES = 30
SEED = 20261121


@pytest.fixture(scope="module")
async def server(
    services: ServiceUrls, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, str]]:
    """`memberdesk serve` on a database of its own (migrated, seeded, an admin), and that admin's token."""
    own = await own_database(services, settings, DATABASE, members=MEMBERS, rng_seed=7)
    database_url, replica_urls = str(own.database_url), [str(url) for url in own.database_replica_urls]
    await create_admin(own, email=EMAIL, name="Schemathesis", role=Role.admin, password=PASSWORD)
    await wait_for_replica(services)
    check = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await check.fetchrow("SELECT id, token_version FROM admin_users WHERE email = $1", EMAIL)
        assert row is not None
        operator_id, version = row["id"], row["token_version"]
    finally:
        await check.close()
    environment = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "DATABASE_REPLICA_URLS": ",".join(replica_urls),
        "JWT_SECRET": settings.token_secret(),
        "ADMIN_TIMEZONE": settings.admin_timezone,
        "LOG_FORMAT": "console",
    }
    token = issue_token(operator_id, settings.token_secret(), 3600, version=version)
    with serve(services, tmp_path_factory.mktemp("server") / "server.log", environment) as url:
        yield url, token


def test_every_check_passes_over_the_whole_api(server: tuple[str, str], project_root: Path) -> None:
    url, token = server
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            "tests/schemathesis.toml",
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=project_root,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    # It ran as an admin throughout (a run refused at the door would pass too).
    assert "Authentication failed" not in done.stdout, done.stdout[-5000:]
