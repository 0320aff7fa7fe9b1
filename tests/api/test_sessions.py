"""Console sessions: the refresh cookie, its rotation, reuse detection, logout, expiry and concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.v1.routers.auth import REFRESH_COOKIE
from backend.domain.identity import Role
from backend.domain.refresh.service import token_hash
from backend.infrastructure.settings import Settings
from tests.api.test_auth import app_with, client_at, new_operator, unique_client
from tests.conftest import OPERATOR_PASSWORD

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


def set_cookie(response: httpx.Response) -> SimpleCookie:
    """The response's Set-Cookie for the refresh cookie (asserted present)."""
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{REFRESH_COOKIE}=")]
    cookie = SimpleCookie()
    cookie.load(header)
    return cookie


def refresh_token_of(response: httpx.Response) -> str:
    return set_cookie(response)[REFRESH_COOKIE].value


class Session:
    """An operator's browser, as far as the API can tell: the access token and the refresh cookie it holds.

    The cookie is Secure outside development, so httpx (on http://) would not send it back: it is carried by hand.
    """

    def __init__(self, app: FastAPI, email: str) -> None:
        self.app, self.email = app, email
        self.address = unique_client()
        self.access = ""
        self.refresh_token = ""

    async def login(self) -> httpx.Response:
        async with client_at(self.app, self.address) as c:
            response = await c.post(LOGIN, json={"email": self.email, "password": OPERATOR_PASSWORD})
        assert response.status_code == 200, response.text
        self.access, self.refresh_token = response.json()["access_token"], refresh_token_of(response)
        return response

    async def post(self, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
        value = self.refresh_token if token is None else token
        kwargs.setdefault("json", {})
        async with client_at(self.app, self.address, {"Cookie": f"{REFRESH_COOKIE}={value}"}) as c:
            return await c.post(path, **kwargs)  # type: ignore[arg-type]

    async def refresh(self, token: str | None = None) -> httpx.Response:
        response = await self.post(REFRESH, token)
        if response.status_code == 200:
            self.access, self.refresh_token = response.json()["access_token"], refresh_token_of(response)
        return response

    async def me(self, access: str | None = None) -> int:
        async with client_at(self.app, self.address, {"Authorization": f"Bearer {access or self.access}"}) as c:
            return (await c.get(ME)).status_code


@pytest.fixture
async def operator(admin: httpx.AsyncClient) -> dict[str, str]:
    return await new_operator(admin, Role.moderator)


@pytest.fixture
async def session(app: FastAPI, operator: dict[str, str]) -> Session:
    browser = Session(app, operator["email"])
    await browser.login()
    return browser


async def family_state(db: asyncpg.Connection, token: str) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT f.id, f.revoked_at, f.revoked_reason, t.used_at FROM refresh_tokens t"
        " JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = $1",
        token_hash(token),
    )
    assert row is not None
    return row


class TestLoginSetsTheCookie:
    async def test_httponly_samesite_strict_secure_scoped_to_the_auth_routes(
        self, app: FastAPI, operator: dict[str, str], settings: Settings, db: asyncpg.Connection
    ) -> None:
        response = await Session(app, operator["email"]).login()
        morsel = set_cookie(response)[REFRESH_COOKIE]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "strict"
        assert morsel["secure"] is True  # ENVIRONMENT=test: everywhere but development
        assert morsel["path"] == "/api/v1/auth"
        assert abs(int(morsel["max-age"]) - settings.refresh_ttl_seconds) < 5
        # Stored as a hash only.
        stored = await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", morsel.value)
        assert stored == 0
        assert (await family_state(db, morsel.value))["revoked_at"] is None

    async def test_development_cookies_are_not_secure(self, settings: Settings, operator: dict[str, str]) -> None:
        async with app_with(settings, environment="development") as other:
            response = await Session(other, operator["email"]).login()
        assert set_cookie(response)[REFRESH_COOKIE]["secure"] == ""


class TestRefresh:
    async def test_rotates_the_refresh_token_and_answers_a_working_access_token(
        self, session: Session, db: asyncpg.Connection
    ) -> None:
        first_access, first_refresh = session.access, session.refresh_token
        response = await session.refresh()
        assert response.status_code == 200, response.text
        assert response.json()["expires_in"] > 0
        assert session.refresh_token != first_refresh  # (the access token may be the same string within a second)
        assert await session.me() == 200
        assert await session.me(first_access) == 200  # the same session: earlier access tokens live on
        old, new = await family_state(db, first_refresh), await family_state(db, session.refresh_token)
        assert old["id"] == new["id"]
        assert old["used_at"] is not None
        assert new["used_at"] is None
        assert (await session.refresh()).status_code == 200  # and again, with the new one

    async def test_reuse_of_a_rotated_token_revokes_the_whole_family(
        self, session: Session, db: asyncpg.Connection
    ) -> None:
        stolen = session.refresh_token
        assert (await session.refresh()).status_code == 200
        # Past the concurrency window: a replay, not a second tab.
        await db.execute(
            "UPDATE refresh_tokens SET used_at = used_at - interval '1 minute' WHERE token_hash = $1",
            token_hash(stolen),
        )
        replay = await session.post(REFRESH, stolen)
        assert replay.status_code == 401
        assert "used before" in replay.json()["detail"]
        assert set_cookie(replay)[REFRESH_COOKIE]["max-age"] == "0"  # cleared
        # Everyone holding the family is out: the legitimate newer token and the access tokens it issued.
        assert (await session.post(REFRESH)).status_code == 401
        assert await session.me() == 401
        state = await family_state(db, session.refresh_token)
        assert state["revoked_reason"] == "reuse"
        audited = await db.fetchval(
            "SELECT count(*) FROM audit_log"
            " WHERE action = 'auth.refresh_reused' AND changes->'session'->>'before' = $1",
            str(state["id"]),
        )
        assert audited == 1

    async def test_two_concurrent_refreshes_with_one_token_one_wins_the_other_is_told_to_retry(
        self, session: Session, db: asyncpg.Connection
    ) -> None:
        token = session.refresh_token
        answers = await asyncio.gather(session.post(REFRESH, token), session.post(REFRESH, token))
        assert sorted(a.status_code for a in answers) == [200, 409]
        [won] = [a for a in answers if a.status_code == 200]
        [lost] = [a for a in answers if a.status_code == 409]
        assert lost.headers["Retry-After"] == "1"
        assert REFRESH_COOKIE not in lost.headers.get("set-cookie", "")  # the winner's cookie stays
        # The family lives on: the retry, with the cookie the winner set, works.
        assert (await session.refresh(refresh_token_of(won))).status_code == 200
        assert (await family_state(db, token))["revoked_at"] is None

    async def test_an_expired_token_or_session_is_401(self, session: Session, db: asyncpg.Connection) -> None:
        await db.execute(
            "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
            token_hash(session.refresh_token),
        )
        assert "expired" in (await session.post(REFRESH)).json()["detail"]
        other = Session(session.app, session.email)
        await other.login()
        family = (await family_state(db, other.refresh_token))["id"]
        await db.execute("UPDATE refresh_families SET expires_at = now() - interval '1 second' WHERE id = $1", family)
        assert (await other.post(REFRESH)).status_code == 401

    async def test_without_a_cookie_or_with_an_unknown_one_is_401(self, session: Session) -> None:
        async with client_at(session.app, unique_client()) as c:
            missing = await c.post(REFRESH, json={})
        assert missing.status_code == 401
        assert (await session.post(REFRESH, "made-up")).status_code == 401

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [("{}", "text/plain"), ("a=b", "application/x-www-form-urlencoded"), ("{}", None)],
    )
    async def test_only_a_json_body_is_taken_which_no_form_or_simple_request_sends(
        self, session: Session, db: asyncpg.Connection, content: str, content_type: str | None
    ) -> None:
        headers = {"Cookie": f"{REFRESH_COOKIE}={session.refresh_token}"}
        if content_type:
            headers["Content-Type"] = content_type
        async with client_at(session.app, session.address, headers) as c:
            for path in (REFRESH, LOGOUT):
                refused = await c.post(path, content=content)
                assert refused.status_code == 415, refused.text
                assert refused.headers["content-type"] == "application/problem+json"
        state = await family_state(db, session.refresh_token)
        assert state["used_at"] is None
        assert state["revoked_at"] is None


class TestSessionsEndWithTheOperator:
    @pytest.mark.parametrize(
        "change", [{"password": "a password set by an admin"}, {"role": "viewer"}, {"is_active": False}]
    )
    async def test_a_password_role_or_access_change_ends_refresh_families(
        self,
        session: Session,
        operator: dict[str, str],
        admin: httpx.AsyncClient,
        db: asyncpg.Connection,
        change: dict[str, object],
    ) -> None:
        changed = await admin.patch(f"/api/v1/admin/operators/{operator['id']}", json=change)
        assert changed.status_code == 200, changed.text
        ended = await session.post(REFRESH)
        assert ended.status_code == 401
        assert (await family_state(db, session.refresh_token))["revoked_reason"] == "operator_changed"

    async def test_changing_ones_own_password_starts_a_new_session(
        self, session: Session, db: asyncpg.Connection
    ) -> None:
        earlier = session.refresh_token
        async with client_at(session.app, session.address, {"Authorization": f"Bearer {session.access}"}) as c:
            changed = await c.post(
                "/api/v1/auth/password",
                json={"current_password": OPERATOR_PASSWORD, "new_password": "another good password"},
            )
        assert changed.status_code == 200, changed.text
        fresh = refresh_token_of(changed)
        assert (await session.post(REFRESH, earlier)).status_code == 401
        assert (await session.refresh(fresh)).status_code == 200
        assert await session.me() == 200


class TestLogout:
    async def test_revokes_the_session_clears_the_cookie_and_ends_its_access_tokens(
        self, session: Session, db: asyncpg.Connection
    ) -> None:
        assert await session.me() == 200  # in the identity cache now: the logout must clear it
        out = await session.post(LOGOUT)
        assert out.status_code == 204
        assert set_cookie(out)[REFRESH_COOKIE]["max-age"] == "0"
        assert (await session.post(REFRESH)).status_code == 401
        assert await session.me() == 401
        assert (await family_state(db, session.refresh_token))["revoked_reason"] == "logout"
        assert (await session.post(LOGOUT)).status_code == 204  # twice is harmless

    async def test_ends_only_its_own_session(self, session: Session) -> None:
        other = Session(session.app, session.email)
        await other.login()
        assert (await session.post(LOGOUT)).status_code == 204
        assert (await other.refresh()).status_code == 200
        assert await other.me() == 200

    async def test_without_a_cookie_is_204(self, app: FastAPI) -> None:
        async with client_at(app, unique_client()) as c:
            assert (await c.post(LOGOUT, json={})).status_code == 204


async def test_housekeeping_deletes_sessions_past_their_max_age(
    session: Session, db: asyncpg.Connection, app: FastAPI
) -> None:
    from backend.api.state import app_state
    from backend.runtime.housekeeping import Housekeeper

    family = (await family_state(db, session.refresh_token))["id"]
    await db.execute("UPDATE refresh_families SET expires_at = now() - interval '1 second' WHERE id = $1", family)
    state = app_state(app)
    report = await Housekeeper(state.database, state.storage, state.settings).run_once(
        datetime.now(UTC) + timedelta(seconds=1)
    )
    assert report.ended_sessions >= 1
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE family_id = $1", family) == 0
    assert uuid.UUID(str(family))
