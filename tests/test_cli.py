"""The memberdesk command, run as a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import jwt

from backend.runtime.housekeeping import CHORES
from devtools.services import ServiceUrls
from tests.servers import free_port


def run_cli(services: ServiceUrls, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **services.as_env(), "ENVIRONMENT": "development"}
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_create_admin_reads_the_password_from_stdin(services: ServiceUrls, anon: httpx.AsyncClient) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@memberdesk.test"
    password = "a password from stdin only"
    done = run_cli(services, "create-admin", "--email", email, "--role", "moderator", stdin=password + "\n")
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    login = await anon.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200
    me = await anon.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.json()["role"] == "moderator"


def test_create_admin_refuses_a_short_password(services: ServiceUrls) -> None:
    done = run_cli(services, "create-admin", "--email", "short@memberdesk.test", stdin="short\n")
    assert done.returncode != 0
    assert "password" in done.stderr


def test_invalid_settings_stop_the_command_naming_the_setting(services: ServiceUrls) -> None:
    env = {**os.environ, **services.as_env(), "ADMIN_TIMEZONE": "Nowhere/Land"}
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "ADMIN_TIMEZONE" in done.stderr


async def test_housekeep_runs_one_pass(services: ServiceUrls, db: asyncpg.Pool) -> None:
    key = f"cli-{uuid.uuid4()}"
    await db.execute(
        "INSERT INTO idempotency_keys (owner, key, method, path, fingerprint, created_at)"
        " VALUES ('cli-test', $1, 'POST', '/x', 'f', now() - interval '30 days')",
        key,
    )
    done = await asyncio.to_thread(run_cli, services, "housekeep")
    assert done.returncode == 0, done.stderr
    assert "idempotency keys" in done.stdout
    # Not a terminal: no bar, one plain progress line at the end (a pass this small takes under 10 s).
    assert "\r" not in done.stderr
    assert re.search(rf"^Housekeeping: {CHORES}/{CHORES} chores in \d+ s", done.stderr, re.MULTILINE), done.stderr
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key) == 0


def _processes_mentioning(text: str) -> list[str]:
    """`pid: command line` of every process whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_dev_serves_seeded_members_and_sigterm_stops_its_servers(tmp_path: Path) -> None:
    data = tmp_path / "devdata"
    port = free_port()
    command = [sys.executable, "-m", "backend.cli", "dev", "--data", str(data), "--free-ports", "--port", str(port)]
    dev = subprocess.Popen([*command, "--members", "20"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert dev.poll() is None, dev.communicate()[0]
            assert time.monotonic() < deadline, "dev did not become ready"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            time.sleep(0.5)
        env = dict(line.split("=", 1) for line in (data / "env").read_text().splitlines())
        credentials = {"email": env["MEMBERDESK_DEMO_EMAIL"], "password": env["MEMBERDESK_DEMO_PASSWORD"]}
        token = httpx.post(f"{base}/api/v1/auth/login", json=credentials).json()["access_token"]
        members = httpx.get(f"{base}/api/v1/admin/members", headers={"Authorization": f"Bearer {token}"})
        assert members.headers["X-Total-Count"] == "20"
        # The secret is this data directory's own: a token signed with the constant that earlier versions
        # used in development, for the very operator that just logged in, is refused.
        assert len(env["JWT_SECRET"]) >= 32
        assert "memberdesk-development-only" not in env["JWT_SECRET"]
        claims = jwt.decode(token, env["JWT_SECRET"], algorithms=["HS256"])
        forged = jwt.encode(claims, "memberdesk-development-only-secret-do-not-use", algorithm="HS256")
        refused = httpx.get(f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401
    finally:
        dev.send_signal(signal.SIGTERM)
        output = dev.communicate(timeout=60)[0]
    left = _processes_mentioning(str(data))
    for process in left:  # nothing should be left; if something is, it must not outlive the test
        with contextlib.suppress(OSError):
            os.kill(int(process.split(":")[0]), signal.SIGKILL)
    assert dev.returncode == 0, output
    assert left == []
    assert not (data / "pg" / "primary" / "postmaster.pid").exists()
