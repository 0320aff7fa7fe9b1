"""The memberdesk command, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx

from backend.infrastructure.devservices import ServiceUrls


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
