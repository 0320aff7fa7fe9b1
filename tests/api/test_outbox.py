"""GET /admin/outbox and POST /admin/outbox/{id}/retry: the admin's view of side effects, and retrying the dead."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.admin.service import ensure_operator
from backend.domain.identity import COMMAND_LINE, AuditContext, Role
from backend.domain.outbox import service
from backend.infrastructure.security import issue_token
from backend.infrastructure.settings import Settings
from backend.main import create_app
from devtools.services import ServiceUrls
from tests.conftest import OPERATOR_PASSWORD, api_client, wait_for_replica
from tests.runtime.test_outbox import eventually, isolated_database, tuned, webhook_receiver

URL = "/api/v1/admin/outbox"


@pytest.fixture
async def events(db: asyncpg.Connection, services: ServiceUrls) -> AsyncIterator[tuple[str, dict[str, int]]]:
    """Three events of a fresh topic, oldest first: delivered, dead, and pending but not due for an hour.

    Written on the primary behind the API's back (no write position for the client to present), so the list,
    read from the replica, sees them only once it has replayed them.
    """
    topic = f"test.outbox.{uuid.uuid4().hex[:8]}"
    ids: dict[str, int] = {}
    for minutes_ago, status in [(3, "delivered"), (2, "dead"), (1, "pending")]:
        ids[status] = await db.fetchval(
            """
            INSERT INTO outbox (topic, payload, status, attempts, next_attempt_at, last_error, created_at, delivered_at)
            VALUES ($1, $2::jsonb, $3::text, $4, now() + interval '1 hour', $5, now() - make_interval(mins => $6),
                    CASE WHEN $3::text = 'delivered' THEN now() END)
            RETURNING id
            """,
            topic,
            orjson.dumps({"member_id": status}).decode(),
            status,
            8 if status == "dead" else 1,
            "HTTP 503: try again later" if status == "dead" else None,
            minutes_ago,
        )
    await wait_for_replica(services)
    yield topic, ids
    await db.execute("DELETE FROM outbox WHERE topic = $1", topic)


def ids_of(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


class TestListOutbox:
    async def test_lists_dead_events(self, admin: httpx.AsyncClient, events: tuple[str, dict[str, int]]) -> None:
        topic, ids = events
        response = await admin.get(URL, params={"status": "dead", "topic": topic})
        assert ids_of(response) == [ids["dead"]]
        assert response.headers["X-Total-Count"] == "1"
        [item] = response.json()
        assert item["status"] == "dead"
        assert item["attempts"] == 8
        assert item["last_error"] == "HTTP 503: try again later"
        assert item["payload"] == {"member_id": "dead"}

    async def test_lists_every_status_newest_first_with_paging(
        self, admin: httpx.AsyncClient, events: tuple[str, dict[str, int]]
    ) -> None:
        topic, ids = events
        response = await admin.get(URL, params={"topic": topic})
        assert ids_of(response) == [ids["pending"], ids["dead"], ids["delivered"]]
        assert response.headers["X-Total-Count"] == "3"
        page = await admin.get(URL, params={"topic": topic, "limit": 2, "offset": 1})
        assert ids_of(page) == [ids["dead"], ids["delivered"]]
        assert page.headers["Content-Range"] == "outbox 1-2/3"
        several = await admin.get(URL, params={"topic": topic, "status": "dead,pending"})
        assert ids_of(several) == [ids["pending"], ids["dead"]]

    async def test_an_unknown_status_is_a_400_naming_it(self, admin: httpx.AsyncClient) -> None:
        response = await admin.get(URL, params={"status": "lost"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["parameter"] == "status"

    async def test_a_viewer_may_not_list_the_outbox(self, client: httpx.AsyncClient) -> None:
        response = await client.get(URL)
        assert response.status_code == 403


class TestRetryOutboxEvent:
    async def test_puts_a_dead_event_back_audited_and_the_worker_delivers_it(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection, events: tuple[str, dict[str, int]]
    ) -> None:
        _, ids = events
        response = await admin.post(f"{URL}/{ids['dead']}/retry")
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
        audit = await db.fetchrow(
            "SELECT changes FROM audit_log WHERE action = 'outbox.retried' AND entity_id = $1", str(ids["dead"])
        )
        assert audit is not None
        assert orjson.loads(audit["changes"]) == {
            "attempts": {"before": 8, "after": 0},
            "status": {"before": "dead", "after": "pending"},
        }

        # The app's own worker was nudged after the commit; with no WEBHOOK_URL it logs the notification.
        async def delivered() -> bool:
            return bool(await db.fetchval("SELECT status = 'delivered' FROM outbox WHERE id = $1", ids["dead"]))

        await eventually(delivered, "the retried event to be delivered")

    @pytest.mark.parametrize("status", ["pending", "delivered"])
    async def test_an_event_that_is_not_dead_is_a_409(
        self, admin: httpx.AsyncClient, events: tuple[str, dict[str, int]], status: str
    ) -> None:
        _, ids = events
        response = await admin.post(f"{URL}/{ids[status]}/retry")
        assert response.status_code == 409
        assert status in response.json()["detail"]

    async def test_an_unknown_event_is_a_404(self, admin: httpx.AsyncClient) -> None:
        response = await admin.post(f"{URL}/{2**62}/retry")
        assert response.status_code == 404

    async def test_a_moderator_may_not_retry(
        self, app: FastAPI, tokens: dict[Role, str], events: tuple[str, dict[str, int]]
    ) -> None:
        _, ids = events
        async with api_client(app, {"Authorization": f"Bearer {tokens[Role.moderator]}"}) as moderator:
            response = await moderator.post(f"{URL}/{ids['dead']}/retry")
        assert response.status_code == 403


class TestOutboxEndToEnd:
    async def test_an_event_dead_after_its_attempts_is_listed_then_retried_to_delivery(
        self, settings: Settings, services: ServiceUrls
    ) -> None:
        """An app of its own (database, worker, receiver), so that no other worker delivers its events."""
        async with isolated_database(settings, services) as isolated, webhook_receiver() as receiver:
            app = create_app(tuned(isolated, receiver, outbox_max_attempts=2))
            receiver.fail_next = 100
            async with app.router.lifespan_context(app):
                database = app_state(app).database
                async with database.write_sessions() as session, session.begin():
                    operator = await ensure_operator(
                        session,
                        AuditContext(COMMAND_LINE, None),
                        email="outbox-admin@memberdesk.test",
                        name="Outbox admin",
                        role=Role.admin,
                        password=OPERATOR_PASSWORD,
                    )
                    await service.enqueue(session, "member.suspended", {"member_id": "m-9"})
                app_state(app).outbox_worker.nudge()
                token = issue_token(operator.id, isolated.token_secret(), isolated.jwt_ttl_seconds, version=0)  # new
                async with api_client(app, {"Authorization": f"Bearer {token}"}) as admin:

                    async def listed(status: str) -> list[dict[str, Any]]:
                        response = await admin.get(URL, params={"status": status})
                        assert response.status_code == 200, response.text
                        items: list[dict[str, Any]] = response.json()
                        return items

                    async def has(status: str) -> bool:
                        return bool(await listed(status))

                    await eventually(lambda: has("dead"), "the event to be listed as dead")
                    [dead] = await listed("dead")
                    assert (dead["topic"], dead["attempts"]) == ("member.suspended", 2)
                    assert dead["last_error"].startswith("HTTP 503")
                    assert len(receiver.requests) == 2

                    receiver.fail_next = 0
                    retried = await admin.post(f"{URL}/{dead['id']}/retry")
                    assert retried.status_code == 200, retried.text
                    await eventually(lambda: has("delivered"), "the retried event to be delivered")
                    [delivered] = await listed("delivered")
                    assert (delivered["id"], delivered["attempts"]) == (dead["id"], 1)
                    assert receiver.deliveries() == [str(dead["id"])] * 3
