"""Operator management cannot lock everyone out: no one lowers, deactivates or re-passwords themself here, and the
last active admin stays an active admin, even when two admins demote each other at once. The operator and API key
lists follow the list conventions (paging, sort, filters, totals) and still answer every row without parameters."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.admin import repository as admin_repository
from backend.domain.admin.service import ensure_operator
from backend.domain.errors import ConflictError
from backend.domain.identity import COMMAND_LINE, AuditContext, Role
from backend.infrastructure.security import issue_token
from backend.infrastructure.settings import Settings
from backend.main import create_app
from devtools.services import ServiceUrls
from tests.api.test_auth import login, new_operator, unique_client, wait_until
from tests.conftest import OPERATOR_PASSWORD, api_client, asyncpg_dsn
from tests.runtime.test_outbox import isolated_database

OPERATORS = "/api/v1/admin/operators"


async def as_operator(app: FastAPI, email: str) -> httpx.AsyncClient:
    token = (await login(app, unique_client(), email, OPERATOR_PASSWORD)).json()["access_token"]
    return api_client(app, {"Authorization": f"Bearer {token}"})


class TestChangesToOneself:
    @pytest.fixture
    async def own(self, app: FastAPI, admin: httpx.AsyncClient) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """A fresh admin's client and id (the session's admin must keep its token)."""
        operator = await new_operator(admin, Role.admin)
        async with await as_operator(app, operator["email"]) as c:
            yield c, operator["id"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"is_active": False}, "is_active"),
            ({"role": "moderator"}, "role"),
            ({"role": "viewer"}, "role"),
            ({"password": "a new password of mine"}, "password"),
            # What a fuzzer sent as the demo admin, and got 200 for.
            ({"is_active": False, "name": "0", "password": "0" * 12, "role": None}, "password"),
        ],
    )
    async def test_is_refused_naming_the_field_and_changes_nothing(
        self, own: tuple[httpx.AsyncClient, str], db: asyncpg.Connection, body: dict[str, Any], field: str
    ) -> None:
        c, own_id = own
        before = await db.fetchrow("SELECT * FROM admin_users WHERE id = $1", uuid.UUID(own_id))
        refused = await c.patch(f"{OPERATORS}/{own_id}", json=body)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == field
        if field == "password":
            assert "/auth/password" in refused.json()["detail"]
        assert await db.fetchrow("SELECT * FROM admin_users WHERE id = $1", uuid.UUID(own_id)) == before
        assert (await c.get("/api/v1/auth/me")).status_code == 200  # and the caller is still who they were

    async def test_a_harmless_change_to_oneself_is_allowed(self, own: tuple[httpx.AsyncClient, str]) -> None:
        c, own_id = own
        renamed = await c.patch(f"{OPERATORS}/{own_id}", json={"name": "Renamed", "role": "admin", "is_active": True})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == "Renamed"


@dataclass
class Isolated:
    """An app on a database of its own whose only active admins are `a` and `b`, and an admin API key."""

    app: FastAPI
    db: asyncpg.Connection
    a: uuid.UUID
    b: uuid.UUID
    a_token: str
    b_token: str
    key: str

    async def restore(self) -> None:
        await self.db.execute(
            "UPDATE admin_users SET role = 'admin', is_active = true WHERE id = ANY($1)", [self.a, self.b]
        )
        for name, operator in (("a_token", self.a), ("b_token", self.b)):
            version = await self.db.fetchval("SELECT token_version FROM admin_users WHERE id = $1", operator)
            secret = app_state(self.app).settings.token_secret()
            setattr(self, name, issue_token(operator, secret, 900, version=version))
        app_state(self.app).identity_cache.clear()

    async def active_admins(self) -> int:
        count: int = await self.db.fetchval("SELECT count(*) FROM admin_users WHERE role = 'admin' AND is_active")
        return count


@pytest.fixture(scope="module")
async def isolated(settings: Settings, services: ServiceUrls) -> AsyncIterator[Isolated]:
    async with isolated_database(settings, services) as own:
        app = create_app(own)
        async with app.router.lifespan_context(app):
            database = app_state(app).database
            async with database.write_sessions() as session, session.begin():
                made = [
                    await ensure_operator(
                        session,
                        AuditContext(COMMAND_LINE, None),
                        email=f"{name}@memberdesk.test",
                        name=name,
                        role=Role.admin,
                        password=OPERATOR_PASSWORD,
                    )
                    for name in ("a", "b")
                ]
            conn = await asyncpg.connect(asyncpg_dsn(str(own.database_url)))
            try:
                secret = own.token_secret()
                a_token, b_token = (issue_token(op.id, secret, 900, version=0) for op in made)
                async with api_client(app, {"Authorization": f"Bearer {a_token}"}) as c:
                    key = (await c.post("/api/v1/admin/api-keys", json={"name": "admin tool", "role": "admin"})).json()
                yield Isolated(app, conn, made[0].id, made[1].id, a_token, b_token, key["key"])
            finally:
                await conn.close()


class TestTheLastActiveAdmin:
    @pytest.mark.parametrize(("body", "field"), [({"is_active": False}, "is_active"), ({"role": "moderator"}, "role")])
    async def test_cannot_be_deactivated_or_demoted(self, isolated: Isolated, body: dict[str, Any], field: str) -> None:
        await isolated.restore()
        async with api_client(isolated.app, {"X-API-Key": isolated.key}) as tool:
            assert (await tool.patch(f"{OPERATORS}/{isolated.b}", json=body)).status_code == 200  # a is left
            refused = await tool.patch(f"{OPERATORS}/{isolated.a}", json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["field"] == field
        assert "last active admin" in refused.json()["detail"]
        assert await isolated.active_admins() == 1

    async def test_two_admins_demoting_each_other_at_once_leave_one(
        self, isolated: Isolated, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first to count the other admins holds the count until the second has either counted too (no
        lock: both see one admin left and both commit) or is waiting for the first to finish."""
        await isolated.restore()
        counted = 0
        go = asyncio.Event()
        real_count = admin_repository.other_active_admins

        async def count_then_hold(*args: Any) -> int:
            nonlocal counted
            others = await real_count(*args)
            counted += 1
            if counted == 1:
                await go.wait()
            return others

        monkeypatch.setattr(admin_repository, "other_active_admins", count_then_hold)

        async def demote(token: str, target: uuid.UUID) -> httpx.Response:
            async with api_client(isolated.app, {"Authorization": f"Bearer {token}"}) as c:
                return await c.patch(f"{OPERATORS}/{target}", json={"role": "viewer"})

        first = asyncio.create_task(demote(isolated.a_token, isolated.b))
        await wait_until(lambda: counted == 1, "the first demotion to count the admins")
        second = asyncio.create_task(demote(isolated.b_token, isolated.a))
        waiting_for_a_lock = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"

        async def second_is_stopped() -> bool:
            return counted == 2 or await isolated.db.fetchval(waiting_for_a_lock) > 0

        stopped = False
        for _ in range(3000):
            if stopped := await second_is_stopped():
                break
            await asyncio.sleep(0.01)
        go.set()
        statuses = sorted([(await first).status_code, (await second).status_code])
        assert stopped
        assert statuses == [200, 409]
        assert await isolated.active_admins() == 1

    async def test_cannot_be_demoted_from_the_command_line_either(self, isolated: Isolated) -> None:
        await isolated.restore()
        await isolated.db.execute("UPDATE admin_users SET is_active = false WHERE id = $1", isolated.b)
        database = app_state(isolated.app).database
        with pytest.raises(ConflictError, match="last active admin"):
            async with database.write_sessions() as session, session.begin():
                await ensure_operator(
                    session,
                    AuditContext(COMMAND_LINE, None),
                    email="a@memberdesk.test",
                    name="a",
                    role=Role.viewer,
                    password=OPERATOR_PASSWORD,
                )
        assert await isolated.active_admins() == 1


# ------------------------------------------------------------------------------------------------ the two lists

LISTED_OPERATORS = [  # (email, name, role), created in this order
    ("zoe@listing.test", "Zoe", Role.viewer),
    ("adam@listing.test", "Adam", Role.moderator),
    ("mia@listing.test", "Mia", Role.viewer),
    ("li@listing.test", "Li", Role.admin),
]
LISTED_KEYS = [("reports", Role.viewer), ("etl", Role.admin), ("backup", Role.moderator)]
API_KEYS = "/api/v1/admin/api-keys"


@dataclass
class Roster:
    """An app on a database of its own with a known set of operators (Mia deactivated) and keys (etl revoked)."""

    client: httpx.AsyncClient
    db: asyncpg.Connection
    admin_id: uuid.UUID

    async def ids(self, sql: str, *args: Any) -> list[str]:
        return [str(row[0]) for row in await self.db.fetch(sql, *args)]


@pytest.fixture(scope="module")
async def roster(settings: Settings, services: ServiceUrls) -> AsyncIterator[Roster]:
    async with isolated_database(settings, services) as own:
        app = create_app(own)
        async with app.router.lifespan_context(app):
            database = app_state(app).database
            async with database.write_sessions() as session, session.begin():
                first = await ensure_operator(
                    session,
                    AuditContext(COMMAND_LINE, None),
                    email="first@listing.test",
                    name="First",
                    role=Role.admin,
                    password=OPERATOR_PASSWORD,
                )
            token = issue_token(first.id, own.token_secret(), 900, version=0)
            conn = await asyncpg.connect(asyncpg_dsn(str(own.database_url)))
            try:
                async with api_client(app, {"Authorization": f"Bearer {token}"}) as c:
                    made = {}
                    for email, name, role in LISTED_OPERATORS:
                        body = {"email": email, "name": name, "role": role.value, "password": OPERATOR_PASSWORD}
                        made[name] = (await c.post(OPERATORS, json=body)).json()["id"]
                    assert (await c.patch(f"{OPERATORS}/{made['Mia']}", json={"is_active": False})).status_code == 200
                    keys = {}
                    for name, role in LISTED_KEYS:
                        keys[name] = (await c.post(API_KEYS, json={"name": name, "role": role.value})).json()["id"]
                    assert (await c.delete(f"{API_KEYS}/{keys['etl']}")).status_code == 200
                    yield Roster(c, conn, first.id)
            finally:
                await conn.close()


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


class TestListOperators:
    async def test_without_parameters_answers_every_operator_oldest_first_with_the_total(self, roster: Roster) -> None:
        expected = await roster.ids("SELECT id FROM admin_users ORDER BY created_at, id")
        response = await roster.client.get(OPERATORS)
        assert ids(response) == expected
        assert response.headers["X-Total-Count"] == str(len(expected)) == "5"
        assert response.headers["Content-Range"] == "operators 0-4/5"
        assert "Link" not in response.headers

    async def test_pages_by_limit_and_offset_or_react_admin_ranges(self, roster: Roster) -> None:
        everyone = await roster.ids("SELECT id FROM admin_users ORDER BY created_at, id")
        first = await roster.client.get(OPERATORS, params={"limit": "2"})
        assert ids(first) == everyone[:2]
        assert first.headers["Content-Range"] == "operators 0-1/5"
        assert first.headers["Link"].endswith('?offset=2&limit=2>; rel="next"')
        second = await roster.client.get(OPERATORS, params={"limit": "2", "offset": "2"})
        assert ids(second) == everyone[2:4]
        assert ids(await roster.client.get(OPERATORS, params={"range": "[2,3]"})) == everyone[2:4]
        assert ids(await roster.client.get(OPERATORS, params={"_start": "2", "_end": "4"})) == everyone[2:4]
        past = await roster.client.get(OPERATORS, params={"offset": "10"})
        assert (ids(past), past.headers["X-Total-Count"]) == ([], "5")

    @pytest.mark.parametrize(
        ("sort", "order_by"),
        [
            ("-email", "email DESC, id DESC"),
            ("name", "name, id"),
            ("role,-created_at", "role, created_at DESC, id DESC"),
            ('["email","ASC"]', "email, id"),
        ],
    )
    async def test_sorts_by_its_fields(self, roster: Roster, sort: str, order_by: str) -> None:
        expected = await roster.ids(f"SELECT id FROM admin_users ORDER BY {order_by}")
        assert ids(await roster.client.get(OPERATORS, params={"sort": sort})) == expected

    @pytest.mark.parametrize(
        ("params", "where"),
        [
            ({"role": "viewer,moderator"}, "role IN ('viewer', 'moderator')"),
            ({"is_active": "false"}, "NOT is_active"),
            ({"q": "LI"}, "email ILIKE '%li%' OR name ILIKE '%li%'"),
            ({"filter": '{"role":["admin"],"is_active":true}'}, "role = 'admin' AND is_active"),
        ],
    )
    async def test_filters_combine_with_the_total(self, roster: Roster, params: dict[str, str], where: str) -> None:
        expected = await roster.ids(f"SELECT id FROM admin_users WHERE {where} ORDER BY created_at, id")
        response = await roster.client.get(OPERATORS, params=params)
        assert ids(response) == expected
        assert response.headers["X-Total-Count"] == str(len(expected))

    async def test_prefer_count_none_leaves_the_total_out(self, roster: Roster) -> None:
        response = await roster.client.get(OPERATORS, params={"limit": "2"}, headers={"Prefer": "count=none"})
        assert len(ids(response)) == 2
        assert "X-Total-Count" not in response.headers
        assert response.headers["Content-Range"] == "operators 0-1/*"

    @pytest.mark.parametrize(
        ("params", "parameter"),
        [
            ({"cursor": "a.AAAAAAAAAAAAAAAAAAAAAA"}, "cursor"),
            ({"limit": "1001"}, "limit"),
            ({"sort": "password_hash"}, "sort"),
            ({"token_version": "0"}, "token_version"),
            ({"role": "owner"}, "role"),
        ],
    )
    async def test_refuses_what_it_does_not_take(self, roster: Roster, params: dict[str, str], parameter: str) -> None:
        response = await roster.client.get(OPERATORS, params=params)
        assert response.status_code == 400, response.text
        assert response.json()["parameter"] == parameter


class TestListApiKeys:
    async def test_without_parameters_answers_every_key_oldest_first_without_secrets(self, roster: Roster) -> None:
        expected = await roster.ids("SELECT id FROM api_keys ORDER BY created_at, id")
        response = await roster.client.get(API_KEYS)
        assert ids(response) == expected
        assert (response.headers["X-Total-Count"], response.headers["Content-Range"]) == ("3", "api-keys 0-2/3")
        assert not any("key" in row or "key_hash" in row for row in response.json())

    @pytest.mark.parametrize(
        ("params", "where"),
        [
            ({"revoked": "true"}, "revoked_at IS NOT NULL"),
            ({"revoked": "false"}, "revoked_at IS NULL"),
            ({"role": "viewer", "q": "REP"}, "role = 'viewer' AND name ILIKE '%rep%'"),
        ],
    )
    async def test_filters(self, roster: Roster, params: dict[str, str], where: str) -> None:
        expected = await roster.ids(f"SELECT id FROM api_keys WHERE {where} ORDER BY created_at, id")
        assert ids(await roster.client.get(API_KEYS, params=params)) == expected

    async def test_filters_by_creator(self, roster: Roster) -> None:
        mine = await roster.client.get(API_KEYS, params={"created_by": str(roster.admin_id)})
        assert len(ids(mine)) == 3
        assert ids(await roster.client.get(API_KEYS, params={"created_by": str(uuid.uuid4())})) == []

    async def test_pages_and_sorts(self, roster: Roster) -> None:
        by_name = await roster.ids("SELECT id FROM api_keys ORDER BY name DESC, id DESC")
        page = await roster.client.get(API_KEYS, params={"sort": "-name", "limit": "1", "offset": "1"})
        assert ids(page) == by_name[1:2]
        assert page.headers["Content-Range"] == "api-keys 1-1/3"
        assert {'rel="next"', 'rel="prev"'} <= set(re.findall(r'rel="\w+"', page.headers["Link"]))
