"""Credentials for the app under load: a bearer token once the app has /api/v1/auth/login, no headers before.

`auth_headers()` probes the login route. When it exists, it makes (or resets) the operator bench@example.com
with `memberdesk create-admin --role admin`, the password on stdin (kept in the bench root, mode 0600), and
logs in with JSON `{"email", "password"}` (or an OAuth2 form, if the app wants that). When the route answers
404 the app has no authentication yet and every request goes without credentials.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from bench.config import PROJECT_ROOT
from bench.dataset import memberdesk_command

LOGIN_PATH = "/api/v1/auth/login"
BENCH_EMAIL = "bench@example.com"
REFRESH_AFTER_SECONDS = 240.0
"""Tokens are short-lived (JWT_TTL_SECONDS, 900 s by default): log in again before each scenario past this age."""


def bench_password(state_dir: Path) -> str:
    """The bench operator's password, made once per bench root and kept there."""
    path = state_dir / "bench-operator-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def login_route_exists(base_url: str) -> bool:
    """Whether the app has a login route (anything but 404 to an empty POST)."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        return client.post(LOGIN_PATH, json={}).status_code != 404


def create_operator(env: Mapping[str, str], password: str) -> None:
    """`memberdesk create-admin` (creates, or resets the password of an existing operator); warns on failure."""
    # A session of its own: no controlling terminal, so the command reads the password from stdin.
    proc = subprocess.run(
        [memberdesk_command(), "create-admin", "--email", BENCH_EMAIL, "--role", "admin"],
        input=f"{password}\n{password}\n",
        env=dict(env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        start_new_session=True,
    )
    if proc.returncode != 0:
        print(f"warning: memberdesk create-admin exited {proc.returncode}: {(proc.stdout + proc.stderr)[-800:]}")


def login(base_url: str, password: str) -> str:
    """An access token for the bench operator."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        response = client.post(LOGIN_PATH, json={"email": BENCH_EMAIL, "password": password})
        if response.status_code == 422:
            response = client.post(LOGIN_PATH, data={"username": BENCH_EMAIL, "password": password})
    if response.status_code != 200:
        raise RuntimeError(f"login as {BENCH_EMAIL} failed: {response.status_code} {response.text[:500]}")
    data = response.json()
    token = data.get("access_token") or data.get("token")
    if not isinstance(token, str):
        raise RuntimeError(f"login answered without a token: {response.text[:500]}")
    return token


def auth_headers(base_url: str, env: Mapping[str, str], state_dir: Path) -> dict[str, str]:
    """{"Authorization": "Bearer ..."} when the app has a login route, else {}."""
    if not login_route_exists(base_url):
        return {}
    password = bench_password(state_dir)
    create_operator(env, password)
    return {"Authorization": f"Bearer {login(base_url, password)}"}


class Auth:
    """auth_headers() for the whole run: the operator is made once, the token renewed before it can expire."""

    def __init__(self, base_url: str, env: Mapping[str, str], state_dir: Path) -> None:
        self.base_url = base_url
        self._headers = auth_headers(base_url, env, state_dir)
        self._at = time.monotonic()
        self.enabled = bool(self._headers)
        self.password = bench_password(state_dir) if self.enabled else ""

    def headers(self) -> dict[str, str]:
        if not self.enabled:
            return {}
        if time.monotonic() - self._at > REFRESH_AFTER_SECONDS:
            self._headers = {"Authorization": f"Bearer {login(self.base_url, self.password)}"}
            self._at = time.monotonic()
        return dict(self._headers)
