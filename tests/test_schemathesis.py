"""Schemathesis over the app's own OpenAPI, against a real server: no 5xx, every answer as documented."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.domain.admin.models import Role
from backend.infrastructure.devservices import ServiceUrls
from backend.infrastructure.settings import Settings

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(
    services: ServiceUrls, settings: Settings, tokens: dict[Role, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`memberdesk serve` on a free port with the test session's settings."""
    port = _free_port()
    env = {
        **os.environ,
        **services.as_env(),
        "ENVIRONMENT": "test",
        "JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "ADMIN_TIMEZONE": settings.admin_timezone,
    }
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


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
