"""Authentication: login, tokens, API keys, throttling."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from backend.api.state import app_state
from backend.domain.admin.schemas import OperatorRead
from backend.domain.auth import repository as auth_repository
from backend.domain.auth.service import ClientAddress, IdentityCache, client_address
from backend.domain.identity import Actor, ActorKind, Role
from backend.infrastructure import security
from backend.infrastructure.settings import Settings
from backend.main import create_app
from tests.conftest import OPERATOR_PASSWORD, api_client, operator_email

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


_addresses = itertools.count(1)


def unique_client() -> tuple[str, int]:
    """A client address no other request of the session uses (the throttle also counts by address)."""
    n = next(_addresses)
    return (f"100.64.{n // 250}.{n % 250 + 1}", 40000)


def client_at(app: FastAPI, address: tuple[str, int], headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=address), base_url="http://memberdesk.test", headers=headers
    )


async def new_operator(admin: httpx.AsyncClient, role: Role = Role.viewer) -> dict[str, str]:
    email = f"op-{uuid.uuid4().hex[:10]}@memberdesk.test"
    response = await admin.post(
        "/api/v1/admin/operators",
        json={"email": email, "name": "Someone", "role": role.value, "password": OPERATOR_PASSWORD},
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


class TestLogin:
    async def test_valid_credentials_give_a_bearer_token(self, anon: httpx.AsyncClient) -> None:
        response = await anon.post(LOGIN, json={"email": operator_email(Role.moderator), "password": OPERATOR_PASSWORD})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] > 0
        me = await anon.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.json()["role"] == "moderator"
        assert me.json()["kind"] == "operator"

    async def test_email_is_case_insensitive(self, anon: httpx.AsyncClient) -> None:
        email = operator_email(Role.viewer).upper()
        response = await anon.post(LOGIN, json={"email": email, "password": OPERATOR_PASSWORD})
        assert response.status_code == 200

    async def test_wrong_email_and_wrong_password_look_the_same(
        self, app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        verified: list[str | None] = []
        real_verify = security.verify_password

        async def spy(password_hash: str | None, password: str) -> bool:
            verified.append(password_hash)
            return await real_verify(password_hash, password)

        monkeypatch.setattr(security, "verify_password", spy)
        async with client_at(app, unique_client()) as c:
            unknown = await c.post(LOGIN, json={"email": "nobody@memberdesk.test", "password": "whatever"})
            wrong = await c.post(LOGIN, json={"email": operator_email(Role.viewer), "password": "not it"})
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()
        assert unknown.headers["content-type"] == "application/problem+json"
        # Both paths paid for one argon2 verification (against a dummy hash when the email is unknown).
        assert len(verified) == 2
        assert verified[0] is None
        assert verified[1] is not None

    async def test_deactivated_operator_cannot_log_in_or_use_a_token(
        self, admin: httpx.AsyncClient, anon: httpx.AsyncClient
    ) -> None:
        operator = await new_operator(admin)
        token = (await anon.post(LOGIN, json={"email": operator["email"], "password": OPERATOR_PASSWORD})).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert (await anon.get(ME, headers=headers)).status_code == 200
        deactivated = await admin.patch(f"/api/v1/admin/operators/{operator['id']}", json={"is_active": False})
        assert deactivated.status_code == 200
        assert (await anon.get(ME, headers=headers)).status_code == 401
        again = await anon.post(LOGIN, json={"email": operator["email"], "password": OPERATOR_PASSWORD})
        assert again.status_code == 401

    async def test_a_hash_made_with_older_parameters_is_replaced_at_login_and_tokens_stay(
        self, admin: httpx.AsyncClient, anon: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        operator = await new_operator(admin)
        operator_id = uuid.UUID(operator["id"])
        token = (await anon.post(LOGIN, json={"email": operator["email"], "password": OPERATOR_PASSWORD})).json()
        older = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4).hash(OPERATOR_PASSWORD)
        await db.execute("UPDATE admin_users SET password_hash = $1 WHERE id = $2", older, operator_id)
        assert security.needs_rehash(older)

        again = await anon.post(LOGIN, json={"email": operator["email"], "password": OPERATOR_PASSWORD})
        assert again.status_code == 200, again.text
        stored = await db.fetchval("SELECT password_hash FROM admin_users WHERE id = $1", operator_id)
        assert stored != older
        assert not security.needs_rehash(stored)
        assert await security.verify_password(stored, OPERATOR_PASSWORD)
        # The password did not change: the token issued before is still good.
        me = await anon.get(ME, headers={"Authorization": f"Bearer {token['access_token']}"})
        assert me.status_code == 200

        wrong = await anon.post(LOGIN, json={"email": operator["email"], "password": "not it"})
        assert wrong.status_code == 401
        assert await db.fetchval("SELECT password_hash FROM admin_users WHERE id = $1", operator_id) == stored


class TestClientAddress:
    @pytest.mark.parametrize(
        ("host", "address", "key"),
        [
            ("203.0.113.9", "203.0.113.9", "203.0.113.9"),
            ("::ffff:203.0.113.9", "203.0.113.9", "203.0.113.9"),
            ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "2001:db8::/64"),
            ("2001:db8::1:2:3:4", "2001:db8::1:2:3:4", "2001:db8::/64"),
            ("fe80::1%eth0", "fe80::1", "fe80::/64"),
            (None, "unknown", "unknown"),
            ("", "unknown", "unknown"),
        ],
    )
    def test_an_address_is_kept_in_canonical_form(self, host: str | None, address: str, key: str) -> None:
        assert client_address(host) == ClientAddress(address, key)

    @pytest.mark.parametrize("host", ["a" * 70, "203.0.113.9 ", "not an address", "1.2.3.4.5", "x" * 100_000, "é\x00"])
    def test_anything_else_is_a_bounded_stand_in_stable_for_the_same_value(self, host: str) -> None:
        stand_in = client_address(host)
        assert stand_in.address == stand_in.key
        assert stand_in.key.startswith("invalid-")
        assert len(stand_in.key) <= 64
        assert host not in stand_in.key
        assert client_address(host) == stand_in
        assert client_address(host + "z") != stand_in


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Until `condition` holds (a guard against a hang, not a timing assertion)."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@asynccontextmanager
async def app_with(settings: Settings, **changes: object) -> AsyncIterator[FastAPI]:
    """Another app on the same services, with some settings changed."""
    other = create_app(settings.model_copy(update=changes))
    async with other.router.lifespan_context(other):
        yield other


async def login(app: FastAPI, address: tuple[str, int], email: str, password: str) -> httpx.Response:
    async with client_at(app, address) as c:
        return await c.post(LOGIN, json={"email": email, "password": password})


class TestThrottling:
    async def test_five_failures_stop_the_guessing_of_an_account_from_the_addresses_that_failed(
        self, app: FastAPI, admin: httpx.AsyncClient
    ) -> None:
        operator = await new_operator(admin)
        guessers = [unique_client() for _ in range(5)]
        for address in guessers:
            assert (await login(app, address, operator["email"], "wrong")).status_code == 401
        for address in guessers:
            blocked = await login(app, address, operator["email"], OPERATOR_PASSWORD)
            assert blocked.status_code == 429
            assert 0 < int(blocked.headers["Retry-After"]) <= 900
            assert blocked.headers["content-type"] == "application/problem+json"
        # A new address gets its one attempt checked; once it failed, it is stopped too.
        newcomer = unique_client()
        assert (await login(app, newcomer, operator["email"], "wrong again")).status_code == 401
        assert (await login(app, newcomer, operator["email"], OPERATOR_PASSWORD)).status_code == 429

    async def test_a_correct_password_from_an_address_that_never_failed_gets_in(
        self, app: FastAPI, admin: httpx.AsyncClient
    ) -> None:
        """Failing five times on purpose does not lock the operator out: their own address never failed."""
        operator = await new_operator(admin, Role.admin)
        attacker = unique_client()
        for _ in range(5):
            assert (await login(app, attacker, operator["email"], "wrong")).status_code == 401
        assert (await login(app, attacker, operator["email"], OPERATOR_PASSWORD)).status_code == 429
        assert (await login(app, unique_client(), operator["email"], OPERATOR_PASSWORD)).status_code == 200
        # The operator's success forgets nothing of the attacker's guesses.
        assert (await login(app, attacker, operator["email"], OPERATOR_PASSWORD)).status_code == 429

    async def test_colleagues_behind_one_address_do_not_lock_each_other_out(
        self, app: FastAPI, admin: httpx.AsyncClient
    ) -> None:
        office = unique_client()
        for n in range(6):
            assert (await login(app, office, f"typo{n}@memberdesk.test", "x")).status_code == 401
        colleague = await new_operator(admin)
        assert (await login(app, office, colleague["email"], OPERATOR_PASSWORD)).status_code == 200

    def test_the_per_address_limit_is_wide_by_default(self) -> None:
        defaults = Settings(_env_file=None, environment="development")
        assert (defaults.login_max_failures, defaults.login_max_failures_per_client) == (5, 50)

    async def test_an_address_that_failed_too_often_for_any_emails_is_stopped(
        self, settings: Settings, app: FastAPI, admin: httpx.AsyncClient
    ) -> None:
        operator = await new_operator(admin)
        sprayer = unique_client()
        async with app_with(settings, login_max_failures_per_client=4) as narrow:
            for n in range(4):
                assert (await login(narrow, sprayer, f"spray{n}@memberdesk.test", "x")).status_code == 401
            blocked = await login(narrow, sprayer, operator["email"], OPERATOR_PASSWORD)
            assert blocked.status_code == 429
            assert "address" in blocked.json()["detail"]
            assert (await login(narrow, unique_client(), operator["email"], OPERATOR_PASSWORD)).status_code == 200

    async def test_the_count_is_shared_by_two_app_instances(self, settings: Settings, admin: httpx.AsyncClient) -> None:
        operator = await new_operator(admin)
        address = unique_client()
        first, second = create_app(settings), create_app(settings)
        async with first.router.lifespan_context(first), second.router.lifespan_context(second):
            for n in range(5):
                instance = first if n % 2 == 0 else second
                assert (await login(instance, address, operator["email"], "wrong")).status_code == 401
            for instance in (first, second):
                assert (await login(instance, address, operator["email"], OPERATOR_PASSWORD)).status_code == 429

    async def test_concurrent_guesses_cannot_outrun_the_count(
        self, settings: Settings, app: FastAPI, admin: httpx.AsyncClient
    ) -> None:
        operator = await new_operator(admin)
        address = unique_client()
        async with app_with(settings, login_checks_per_client=12) as wide:
            statuses = await asyncio.gather(*(login(wide, address, operator["email"], "wrong") for _ in range(12)))
        assert statuses_of(statuses) == {401: 5, 429: 7}


def statuses_of(responses: Sequence[httpx.Response]) -> dict[int, int]:
    return dict(Counter(r.status_code for r in responses))


class TestThrottleFailsClosed:
    async def test_a_70_character_forwarded_address_is_counted_behind_a_trusted_proxy(
        self, app: FastAPI, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        """uvicorn takes X-Forwarded-For from a trusted proxy as it comes (as `serve` runs it): the value is
        normalised before it is counted, so the failures are recorded and the right password is refused."""
        operator = await new_operator(admin)
        # (uvicorn's and Starlette's ASGI types differ in name only.)
        behind_proxy: Any = ProxyHeadersMiddleware(cast(Any, app), trusted_hosts="127.0.0.1")
        forwarded = {"X-Forwarded-For": "f" * 70}
        transport = httpx.ASGITransport(app=behind_proxy, client=("127.0.0.1", 41000))
        async with httpx.AsyncClient(transport=transport, base_url="http://memberdesk.test", headers=forwarded) as c:
            for _ in range(5):
                wrong = await c.post(LOGIN, json={"email": operator["email"], "password": "wrong"})
                assert wrong.status_code == 401, wrong.text
            right = await c.post(LOGIN, json={"email": operator["email"], "password": OPERATOR_PASSWORD})
        assert right.status_code == 429
        assert "access_token" not in right.text
        clients = await db.fetch("SELECT DISTINCT client FROM login_failures WHERE email = $1", operator["email"])
        assert [row["client"] for row in clients] == [client_address("f" * 70).key]
        audited = await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' AND entity_id = $1", operator["id"]
        )
        assert audited == 5

    async def test_a_failure_that_cannot_be_recorded_refuses_the_login(
        self, app: FastAPI, admin: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        operator = await new_operator(admin)

        async def broken(*args: object, **kwargs: object) -> None:
            raise DBAPIError("INSERT INTO login_failures ...", {}, Exception("injected"))

        monkeypatch.setattr(auth_repository, "add_failure", broken)
        address = unique_client()
        for _ in range(6):
            refused = await login(app, address, operator["email"], "wrong")
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["Retry-After"]) > 0
        assert (
            await db.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' AND entity_id = $1", operator["id"]
            )
            == 0
        )

    async def test_a_throttle_that_cannot_be_read_refuses_even_the_right_password(
        self, app: FastAPI, admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        operator = await new_operator(admin)

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("injected")

        monkeypatch.setattr(auth_repository, "failures_since", broken)
        refused = await login(app, unique_client(), operator["email"], OPERATOR_PASSWORD)
        assert refused.status_code == 503
        assert "access_token" not in refused.text

    @pytest.mark.parametrize("email", ["a\x00b@memberdesk.test", "ab@memberdesk.test\n", "\x7f@memberdesk.test"])
    async def test_an_email_with_control_characters_is_422_naming_it(self, app: FastAPI, email: str) -> None:
        refused = await login(app, unique_client(), email, "x")
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["body", "email"]


class TestConcurrentPasswordChecks:
    async def test_a_burst_from_one_address_does_not_queue_a_login_from_another(
        self, app: FastAPI, admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Sixty concurrent logins from one address: a few are checked, the rest refused at once, and a login
        from elsewhere goes to the hashing pool behind those few only."""
        operator = await new_operator(admin)
        limit = app_state(app).settings.login_checks_per_client
        hold = threading.Event()  # keeps the burst's checks on the hashing pool until the other login is queued
        submitted: list[str] = []  # passwords, in the order their checks were handed to the pool
        real_verify, real_check = security.verify_password, security._verify

        async def spy(password_hash: str | None, password: str) -> bool:
            submitted.append(password)
            return await real_verify(password_hash, password)

        def held(password_hash: str | None, password: str) -> bool:
            if password.startswith("burst"):
                hold.wait(60)
            return real_check(password_hash, password)

        monkeypatch.setattr(security, "verify_password", spy)
        monkeypatch.setattr(security, "_verify", held)
        burst_address, other_address = unique_client(), unique_client()
        try:
            burst = [asyncio.create_task(login(app, burst_address, operator["email"], f"burst-{n}")) for n in range(60)]

            def checked() -> int:
                return sum(p.startswith("burst") for p in submitted)

            await wait_until(
                lambda: sum(t.done() for t in burst) + checked() == 60, "each burst login answered or checked"
            )
            valid = asyncio.create_task(login(app, other_address, operator["email"], OPERATOR_PASSWORD))
            await wait_until(lambda: OPERATOR_PASSWORD in submitted, "the other login's check")
            ahead = submitted.index(OPERATOR_PASSWORD)
        finally:
            hold.set()
        answers = await asyncio.gather(*burst)
        assert (await valid).status_code == 200
        assert ahead <= limit
        assert statuses_of(answers) == {401: ahead, 429: 60 - ahead}
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"


class TestTokens:
    def _token(self, settings: Settings, subject: uuid.UUID, **changes: object) -> str:
        now = datetime.now(UTC)
        claims = {"sub": str(subject), "iat": now, "exp": now + timedelta(minutes=5), "typ": "access", "ver": 0}
        claims.update(changes)  # (the session's operators are new: version 0)
        return jwt.encode(claims, settings.token_secret(), algorithm="HS256")

    @pytest.mark.parametrize("case", ["wrong_signature", "alg_none", "expired", "unknown_subject", "garbage", "no_sub"])
    async def test_bad_tokens_are_401(
        self,
        anon: httpx.AsyncClient,
        settings: Settings,
        operators: dict[Role, OperatorRead],
        case: str,
    ) -> None:
        subject = operators[Role.admin].id
        token = {
            "wrong_signature": jwt.encode(
                {"sub": str(subject), "iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(minutes=5)},
                "another-secret-that-is-long-enough-0123456789",
                algorithm="HS256",
            ),
            "alg_none": jwt.encode(
                {"sub": str(subject), "typ": "access", "iat": 1, "exp": 4102444800}, None, algorithm="none"
            ),
            "expired": self._token(settings, subject, exp=datetime.now(UTC) - timedelta(seconds=5)),
            "unknown_subject": self._token(settings, uuid.uuid4()),
            "garbage": "not.a.token",
            "no_sub": jwt.encode(
                {"iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(minutes=5), "typ": "access"},
                settings.token_secret(),
                algorithm="HS256",
            ),
        }[case]
        response = await anon.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_a_valid_token_is_accepted(
        self, anon: httpx.AsyncClient, settings: Settings, operators: dict[Role, OperatorRead]
    ) -> None:
        response = await anon.get(
            ME, headers={"Authorization": f"Bearer {self._token(settings, operators[Role.admin].id)}"}
        )
        assert response.status_code == 200

    async def test_no_credentials_is_401(self, anon: httpx.AsyncClient) -> None:
        assert (await anon.get(ME)).status_code == 401


@pytest.fixture
async def api_key(admin: httpx.AsyncClient) -> AsyncIterator[dict[str, str]]:
    response = await admin.post("/api/v1/admin/api-keys", json={"name": "dashboard", "role": "viewer"})
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    yield body
    await admin.delete(f"/api/v1/admin/api-keys/{body['id']}")


class TestApiKeys:
    async def test_key_is_shown_once_and_stored_as_a_hash(
        self, admin: httpx.AsyncClient, api_key: dict[str, str], db: asyncpg.Connection
    ) -> None:
        assert api_key["key"].startswith("mdk_")
        listed = (await admin.get("/api/v1/admin/api-keys")).json()
        mine = next(k for k in listed if k["id"] == api_key["id"])
        assert "key" not in mine
        stored = await db.fetchrow("SELECT key_hash, prefix FROM api_keys WHERE id = $1", uuid.UUID(api_key["id"]))
        assert stored is not None
        assert api_key["key"] not in (stored["key_hash"], stored["prefix"])
        assert stored["key_hash"] == security.hash_api_key(api_key["key"])

    @pytest.mark.parametrize("header", ["X-API-Key", "Authorization"])
    async def test_key_works_in_either_header(
        self, anon: httpx.AsyncClient, api_key: dict[str, str], header: str
    ) -> None:
        value = api_key["key"] if header == "X-API-Key" else f"Bearer {api_key['key']}"
        me = await anon.get(ME, headers={header: value})
        assert me.status_code == 200
        assert me.json() == {
            "kind": "api_key",
            "id": api_key["id"],
            "name": "dashboard",
            "role": "viewer",
            "email": None,
        }
        assert (await anon.get("/api/v1/admin/members?limit=1", headers={header: value})).status_code == 200

    async def test_key_role_bounds_what_it_may_do(self, anon: httpx.AsyncClient, api_key: dict[str, str]) -> None:
        response = await anon.get("/api/v1/admin/operators", headers={"X-API-Key": api_key["key"]})
        assert response.status_code == 403

    async def test_revoked_or_forged_keys_are_401(
        self, admin: httpx.AsyncClient, anon: httpx.AsyncClient, api_key: dict[str, str]
    ) -> None:
        forged = api_key["key"][:-4] + "AAAA"
        assert (await anon.get(ME, headers={"X-API-Key": forged})).status_code == 401
        assert (await anon.get(ME, headers={"X-API-Key": "mdk_nope"})).status_code == 401
        revoked = await admin.delete(f"/api/v1/admin/api-keys/{api_key['id']}")
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
        assert (await anon.get(ME, headers={"X-API-Key": api_key["key"]})).status_code == 401

    async def test_last_used_is_kept_without_a_write_per_request(
        self, anon: httpx.AsyncClient, api_key: dict[str, str], db: asyncpg.Connection
    ) -> None:
        key_id = uuid.UUID(api_key["id"])
        assert await db.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key_id) is None
        await anon.get(ME, headers={"X-API-Key": api_key["key"]})
        first = await db.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key_id)
        assert first is not None
        xmin = await db.fetchval("SELECT xmin::text FROM api_keys WHERE id = $1", key_id)
        for _ in range(3):
            await anon.get(ME, headers={"X-API-Key": api_key["key"]})
        # No new row version: the following uses wrote nothing.
        assert await db.fetchval("SELECT xmin::text FROM api_keys WHERE id = $1", key_id) == xmin


async def test_api_client_helper_sets_a_client_address(app: FastAPI) -> None:
    async with api_client(app) as c:
        assert (await c.get("/health/live")).status_code == 200


async def test_another_process_stops_trusting_a_deactivated_operator_within_the_cache_time(
    settings: Settings, admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    operator = await new_operator(admin)
    token = (await anon.post(LOGIN, json={"email": operator["email"], "password": OPERATOR_PASSWORD})).json()
    other = create_app(settings.model_copy(update={"auth_cache_seconds": 0.3}))
    async with other.router.lifespan_context(other), api_client(other) as elsewhere:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert (await elsewhere.get(ME, headers=headers)).status_code == 200
        assert (
            await admin.patch(f"/api/v1/admin/operators/{operator['id']}", json={"is_active": False})
        ).status_code == 200
        await asyncio.sleep(0.4)
        assert (await elsewhere.get(ME, headers=headers)).status_code == 401


def test_an_identity_looked_up_before_the_cache_was_cleared_is_not_kept() -> None:
    cache = IdentityCache(60)
    actor = Actor(ActorKind.operator, uuid.uuid4(), Role.viewer, "viewer")
    racing = cache.generation  # a lookup that began before an operator's change was committed
    cache.clear()  # the change committed
    cache.put("bearer:old", actor, generation=racing)
    assert cache.get("bearer:old") is None
    cache.put("bearer:new", actor, generation=cache.generation)
    assert cache.get("bearer:new") == actor


async def test_password_hashing_runs_at_most_two_at_a_time_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    active, most = 0, 0
    lock = threading.Lock()
    real = security._hasher

    class Counting:
        def verify(self, password_hash: str, password: str) -> bool:
            nonlocal active, most
            with lock:
                active += 1
                most = max(most, active)
            try:
                time.sleep(0.05)
                return real.verify(password_hash, password)
            finally:
                with lock:
                    active -= 1

    monkeypatch.setattr(security, "_hasher", Counting())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(*(security.verify_password(None, "guess") for _ in range(8)))
    tick.cancel()
    assert results == [False] * 8
    assert most == security.HASHING_THREADS == 2
    assert ticks >= 10  # the loop kept running while eight verifications (over 0.2 s) went through


PASSWORD = "/api/v1/auth/password"


async def logged_in(app: FastAPI, email: str, password: str = OPERATOR_PASSWORD) -> dict[str, str]:
    response = await login(app, unique_client(), email, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class TestTokensEndWithWhatTheyStoodFor:
    @pytest.mark.parametrize(
        "change",
        [
            {"password": "a password set by an admin"},
            {"role": "moderator"},
            {"is_active": False},
        ],
    )
    async def test_a_change_by_an_admin_ends_the_operators_earlier_tokens(
        self, app: FastAPI, admin: httpx.AsyncClient, anon: httpx.AsyncClient, change: dict[str, object]
    ) -> None:
        operator = await new_operator(admin)
        earlier = await logged_in(app, operator["email"])
        assert (await anon.get(ME, headers=earlier)).status_code == 200  # and now in this process's cache
        changed = await admin.patch(f"/api/v1/admin/operators/{operator['id']}", json=change)
        assert changed.status_code == 200, changed.text
        assert (await anon.get(ME, headers=earlier)).status_code == 401
        if "is_active" in change:  # active again: the earlier token stays ended
            reactivated = await admin.patch(f"/api/v1/admin/operators/{operator['id']}", json={"is_active": True})
            assert reactivated.status_code == 200
            assert (await anon.get(ME, headers=earlier)).status_code == 401
        password = str(change.get("password", OPERATOR_PASSWORD))
        assert (await anon.get(ME, headers=await logged_in(app, operator["email"], password))).status_code == 200

    async def test_a_rename_does_not(self, app: FastAPI, admin: httpx.AsyncClient, anon: httpx.AsyncClient) -> None:
        operator = await new_operator(admin)
        earlier = await logged_in(app, operator["email"])
        assert (await admin.patch(f"/api/v1/admin/operators/{operator['id']}", json={"name": "New"})).status_code == 200
        assert (await anon.get(ME, headers=earlier)).status_code == 200

    async def test_a_token_without_a_version_is_refused(
        self, anon: httpx.AsyncClient, settings: Settings, operators: dict[Role, OperatorRead]
    ) -> None:
        now = datetime.now(UTC)
        claims = {"sub": str(operators[Role.admin].id), "iat": now, "exp": now + timedelta(minutes=5), "typ": "access"}
        token = jwt.encode(claims, settings.token_secret(), algorithm="HS256")
        assert (await anon.get(ME, headers={"Authorization": f"Bearer {token}"})).status_code == 401

    async def test_another_process_stops_trusting_a_token_within_the_cache_time(
        self, settings: Settings, app: FastAPI, admin: httpx.AsyncClient
    ) -> None:
        operator = await new_operator(admin)
        earlier = await logged_in(app, operator["email"])
        async with app_with(settings, auth_cache_seconds=0.3) as other, api_client(other) as elsewhere:
            assert (await elsewhere.get(ME, headers=earlier)).status_code == 200
            changed = await admin.patch(f"/api/v1/admin/operators/{operator['id']}", json={"role": "moderator"})
            assert changed.status_code == 200
            await asyncio.sleep(0.4)
            assert (await elsewhere.get(ME, headers=earlier)).status_code == 401


class TestChangeOwnPassword:
    async def test_needs_the_current_password_and_answers_a_fresh_token(
        self, app: FastAPI, admin: httpx.AsyncClient, anon: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        operator = await new_operator(admin)
        first, second = await logged_in(app, operator["email"]), await logged_in(app, operator["email"])
        new_password = "my own new password"
        changed = await anon.post(
            PASSWORD, json={"current_password": OPERATOR_PASSWORD, "new_password": new_password}, headers=first
        )
        assert changed.status_code == 200, changed.text
        fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
        assert (await anon.get(ME, headers=fresh)).json()["id"] == operator["id"]
        for earlier in (first, second):  # every earlier token, the caller's own included
            assert (await anon.get(ME, headers=earlier)).status_code == 401
        assert (await login(app, unique_client(), operator["email"], OPERATOR_PASSWORD)).status_code == 401
        assert (await login(app, unique_client(), operator["email"], new_password)).status_code == 200
        [row] = await db.fetch(
            "SELECT actor_id, changes FROM audit_log WHERE action = 'auth.password_changed' AND entity_id = $1",
            operator["id"],
        )
        assert str(row["actor_id"]) == operator["id"]
        assert new_password not in row["changes"]

    async def test_a_wrong_current_password_is_403_and_counts_as_a_failed_login(
        self, app: FastAPI, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        operator = await new_operator(admin)
        headers = await logged_in(app, operator["email"])
        address = unique_client()
        async with client_at(app, address, headers) as c:
            for _ in range(5):
                wrong = await c.post(PASSWORD, json={"current_password": "a guess", "new_password": "x" * 12})
                assert wrong.status_code == 403, wrong.text
                assert wrong.headers["content-type"] == "application/problem+json"
                assert wrong.json()["field"] == "current_password"
            right = await c.post(PASSWORD, json={"current_password": OPERATOR_PASSWORD, "new_password": "x" * 12})
            assert right.status_code == 429
            assert (await c.get(ME)).status_code == 200  # still logged in, password unchanged
        assert (await login(app, address, operator["email"], OPERATOR_PASSWORD)).status_code == 429
        assert (await login(app, unique_client(), operator["email"], OPERATOR_PASSWORD)).status_code == 200

    @pytest.mark.parametrize(
        "body",
        [
            {"current_password": OPERATOR_PASSWORD, "new_password": "too short"},
            {"current_password": OPERATOR_PASSWORD},
            {"new_password": "long enough password"},
            {"current_password": OPERATOR_PASSWORD, "new_password": "long enough password", "extra": 1},
        ],
    )
    async def test_a_bad_body_is_422_and_changes_nothing(
        self, app: FastAPI, admin: httpx.AsyncClient, anon: httpx.AsyncClient, body: dict[str, object]
    ) -> None:
        operator = await new_operator(admin)
        headers = await logged_in(app, operator["email"])
        refused = await anon.post(PASSWORD, json=body, headers=headers)
        assert refused.status_code == 422
        assert (await anon.get(ME, headers=headers)).status_code == 200

    async def test_an_api_key_has_no_password(self, anon: httpx.AsyncClient, api_key: dict[str, str]) -> None:
        refused = await anon.post(
            PASSWORD,
            json={"current_password": "whatever it is", "new_password": "long enough password"},
            headers={"X-API-Key": api_key["key"]},
        )
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
