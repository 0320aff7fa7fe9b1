"""Idempotency-Key replays of answers that carry a secret: the record comes back, the secret never does."""

from __future__ import annotations

import logging
import uuid

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI

from backend.domain.idempotency.service import WITHHELD
from backend.domain.identity import Role
from backend.domain.schemas import SHOWN_ONCE
from tests.conftest import OPERATOR_PASSWORD, api_client, operator_email

API_KEYS = "/api/v1/admin/api-keys"
LOGIN = "/api/v1/auth/login"


class TestSecretBearingReplay:
    async def test_a_replayed_api_key_answer_withholds_the_key_and_says_why(
        self,
        admin: httpx.AsyncClient,
        anon: httpx.AsyncClient,
        db: asyncpg.Connection,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        idempotency_key = str(uuid.uuid4())
        body = {"name": "replayed", "role": "viewer"}
        first = await admin.post(API_KEYS, json=body, headers={"Idempotency-Key": idempotency_key})
        again = await admin.post(API_KEYS, json=body, headers={"Idempotency-Key": idempotency_key})
        try:
            assert first.status_code == again.status_code == 201
            secret = first.json()["key"]
            assert secret.startswith("mdk_")
            assert again.headers["Idempotent-Replayed"] == "true"
            replayed = again.json()
            assert replayed["key"] is None
            assert "shown once" in replayed[WITHHELD]
            # The record itself is the same one: nothing was created twice.
            assert {k: v for k, v in replayed.items() if k not in ("key", WITHHELD)} == {
                k: v for k, v in first.json().items() if k != "key"
            }
            assert secret not in again.text
            assert await db.fetchval("SELECT count(*) FROM api_keys WHERE name = 'replayed'") == 1
            # The key the first answer showed works.
            assert (await anon.get("/api/v1/auth/me", headers={"X-API-Key": secret})).status_code == 200

            # Stored nowhere: not with the idempotency key, not in the audit trail, not in the logs.
            stored = await db.fetchrow(
                "SELECT response_status, response_headers::text AS headers, response_body FROM idempotency_keys"
                " WHERE key = $1",
                idempotency_key,
            )
            assert stored is not None
            assert stored["response_status"] == 201
            assert secret.encode() not in stored["response_body"]
            assert secret not in stored["headers"]
            assert orjson.loads(stored["response_body"])["key"] is None
            leaked = await db.fetchval(
                "SELECT count(*) FROM audit_log WHERE changes::text LIKE '%' || $1 || '%'", secret[4:]
            )
            assert leaked == 0
            assert not [r for r in caplog.records if secret[4:] in f"{r.getMessage()} {r.__dict__}"]
        finally:
            await admin.delete(f"{API_KEYS}/{first.json()['id']}")

    async def test_a_login_is_never_replayed(self, app: FastAPI, db: asyncpg.Connection) -> None:
        """A token is a secret too: login answers are not kept for an Idempotency-Key, each login is its own."""
        idempotency_key = str(uuid.uuid4())
        credentials = {"email": operator_email(Role.viewer), "password": OPERATOR_PASSWORD}
        async with api_client(app) as c:
            first = await c.post(LOGIN, json=credentials, headers={"Idempotency-Key": idempotency_key})
            again = await c.post(LOGIN, json=credentials, headers={"Idempotency-Key": idempotency_key})
        assert first.status_code == again.status_code == 200, again.text
        assert "Idempotent-Replayed" not in again.headers
        assert again.json()["access_token"]
        assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", idempotency_key) == 0

    def test_secret_fields_are_marked_in_the_openapi(self, app: FastAPI) -> None:
        schemas = app.openapi()["components"]["schemas"]
        assert schemas["ApiKeyCreated"]["properties"]["key"][SHOWN_ONCE] is True
        assert schemas["TokenRead"]["properties"]["access_token"][SHOWN_ONCE] is True
