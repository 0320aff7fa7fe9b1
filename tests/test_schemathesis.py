"""Schemathesis over the app's own OpenAPI, against a real server: no 5xx, every answer as documented."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.domain.admin.models import Role
from backend.infrastructure.settings import Settings
from devtools.services import ServiceUrls
from tests.servers import serve

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def server(services: ServiceUrls, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`memberdesk serve` on a free port with the test session's settings."""
    environment = {
        "ENVIRONMENT": "test",
        "JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "ADMIN_TIMEZONE": settings.admin_timezone,
    }
    with serve(services, tmp_path_factory.mktemp("server") / "server.log", environment) as url:
        yield url


def test_no_server_errors_and_every_answer_as_documented(
    server: str, tokens: dict[Role, str], project_root: Path
) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{server}/openapi.json",
            "--header",
            f"Authorization: Bearer {tokens[Role.admin]}",
            "--checks",
            CHECKS,
            "--max-examples",
            "25",
            "--seed",
            "20261121",
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=project_root,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
