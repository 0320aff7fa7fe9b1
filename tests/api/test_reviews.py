"""POST /reviews/next: each moderator takes the oldest item nobody holds, for REVIEW_CLAIM_SECONDS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.admin.schemas import ApiKeyCreate, OperatorRead
from backend.domain.admin.service import AdminService
from backend.domain.identity import Actor, ActorKind, AuditContext, Role
from backend.domain.review.repository import _CLAIMS
from backend.domain.review.schemas import Queue
from devtools.services import ServiceUrls
from tests.conftest import api_client, wait_for_replica
from tests.factories import create_member

NEXT = "/api/v1/admin/reviews/next"
REPORTS = "/api/v1/admin/reports"
CLAIMABLE = ("users", "user_photos", "user_documents", "reports")
# Older than anything the seed or other tests make: these members are the head of the review queue.
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def moderators(app: FastAPI, operators: dict[Role, OperatorRead]) -> list[tuple[uuid.UUID, str]]:
    """Eight moderators (API keys of role moderator): (id, key)."""
    admin = operators[Role.admin]
    context = AuditContext(Actor(ActorKind.operator, admin.id, Role.admin, admin.name), None)
    made = []
    async with app_state(app).database.write_sessions() as session, session.begin():
        service = AdminService(session, context)
        for n in range(8):
            key = await service.create_api_key(ApiKeyCreate(name=f"moderator {n}", role=Role.moderator))
            assert key.key is not None
            made.append((key.id, key.key))
    return made


@pytest.fixture
async def clients(app: FastAPI, moderators: list[tuple[uuid.UUID, str]]) -> AsyncIterator[list[httpx.AsyncClient]]:
    made = [api_client(app, {"X-API-Key": key}) for _, key in moderators]
    try:
        yield made
    finally:
        for client in made:
            await client.aclose()


@pytest.fixture(autouse=True)
async def release_claims(
    db: asyncpg.Connection, moderators: list[tuple[uuid.UUID, str]], operators: dict[Role, OperatorRead]
) -> AsyncIterator[None]:
    """Each test starts and ends with no claim by these moderators (other tests decide seeded items)."""
    holders = [holder for holder, _ in moderators] + [op.id for op in operators.values()]

    async def release() -> None:
        for table in CLAIMABLE:
            await db.execute(
                f"UPDATE {table} SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ANY($1)", holders
            )

    await release()
    yield
    await release()


@pytest.fixture
async def oldest_pending(db: asyncpg.Connection) -> AsyncIterator[list[uuid.UUID]]:
    """Ten pending members at the head of the queue, oldest first; removed afterwards."""
    made = []
    for n in range(10):
        member = await create_member(db, status="pending", name=f"Queued {n}")
        await db.execute("UPDATE users SET created_at = $2 WHERE id = $1", member, LONG_AGO + timedelta(minutes=n))
        made.append(member)
    yield made
    await db.execute("DELETE FROM users WHERE id = ANY($1)", made)


class TestClaimNext:
    async def test_eight_moderators_at_once_get_eight_distinct_items(
        self,
        clients: list[httpx.AsyncClient],
        moderators: list[tuple[uuid.UUID, str]],
        oldest_pending: list[uuid.UUID],
        db: asyncpg.Connection,
    ) -> None:
        answers = await asyncio.gather(*(c.post(NEXT, json={"queue": "members"}) for c in clients))
        assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
        items = [a.json() for a in answers]
        ids = [uuid.UUID(item["id"]) for item in items]
        assert len(set(ids)) == 8
        assert set(ids) == set(oldest_pending[:8])  # the eight oldest, none skipped
        holders = {holder for holder, _ in moderators}
        rows = await db.fetch("SELECT id, claimed_by, claimed_until FROM users WHERE id = ANY($1)", ids)
        assert {row["claimed_by"] for row in rows} == holders
        for item in items:
            row = next(r for r in rows if str(r["id"]) == item["id"])
            assert item["claimed_by"] == str(row["claimed_by"])
            assert item["queue"] == "members"
            assert item["member"]["status"] == "pending"
            until = datetime.fromisoformat(item["claimed_until"])
            assert timedelta(seconds=290) < until - datetime.now(UTC) <= timedelta(seconds=300)
        audited = await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'member.claimed' AND entity_id = ANY($1)",
            [str(i) for i in ids],
        )
        assert audited == 8

    async def test_concurrent_transactions_holding_their_claims_never_share_an_item(
        self, services: ServiceUrls, oldest_pending: list[uuid.UUID]
    ) -> None:
        """Eight transactions claim and keep their locks open together: SKIP LOCKED hands each its own row."""
        dsn = services.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        connections = [await asyncpg.connect(dsn) for _ in range(8)]
        transactions = [conn.transaction() for conn in connections]
        try:
            for transaction in transactions:
                await transaction.start()
            rows = await asyncio.gather(
                *(conn.fetchrow(_CLAIMS[Queue.members], uuid.uuid4(), 300, []) for conn in connections)
            )
            ids = [row["id"] for row in rows if row is not None]
            assert len(ids) == 8
            assert len(set(ids)) == 8
        finally:
            for transaction in transactions:
                await transaction.rollback()
            for conn in connections:
                await conn.close()

    async def test_an_expired_claim_is_handed_out_again(
        self,
        clients: list[httpx.AsyncClient],
        moderators: list[tuple[uuid.UUID, str]],
        oldest_pending: list[uuid.UUID],
        db: asyncpg.Connection,
    ) -> None:
        first = (await clients[0].post(NEXT, json={"queue": "members"})).json()
        second = (await clients[1].post(NEXT, json={"queue": "members"})).json()
        assert [first["id"], second["id"]] == [str(oldest_pending[0]), str(oldest_pending[1])]
        await db.execute(
            "UPDATE users SET claimed_until = now() - interval '1 second' WHERE id = $1", oldest_pending[0]
        )
        again = await clients[2].post(NEXT, json={"queue": "members"})
        assert again.json()["id"] == first["id"]
        assert again.json()["claimed_by"] == str(moderators[2][0])
        audit = await db.fetchrow(
            "SELECT changes FROM audit_log WHERE action = 'member.claimed' AND entity_id = $1 ORDER BY id DESC LIMIT 1",
            first["id"],
        )
        assert audit is not None
        assert '"before": "' + str(moderators[0][0]) in str(audit["changes"]).replace("'", '"')
        # A claim in force is never handed out twice.
        fourth = await clients[3].post(NEXT, json={"queue": "members"})
        assert fourth.json()["id"] == str(oldest_pending[2])

    async def test_the_review_queue_shows_claims_in_force(
        self,
        clients: list[httpx.AsyncClient],
        client: httpx.AsyncClient,
        oldest_pending: list[uuid.UUID],
        db: asyncpg.Connection,
        services: ServiceUrls,
    ) -> None:
        claimed = (await clients[0].post(NEXT, json={"queue": "members"})).json()
        await db.execute(
            "UPDATE users SET claimed_by = $2, claimed_until = now() - interval '1 minute' WHERE id = $1",
            oldest_pending[1],
            uuid.uuid4(),
        )
        await wait_for_replica(services)
        page = (await client.get("/api/v1/admin/reviews/pending?limit=3")).json()
        assert [m["id"] for m in page] == [str(m) for m in oldest_pending[:3]]
        assert (page[0]["claimed_by"], page[0]["claimed_until"]) == (claimed["claimed_by"], claimed["claimed_until"])
        assert page[1]["claimed_by"] is None
        assert page[1]["claimed_until"] is None
        assert page[2]["claimed_by"] is None

    async def test_photos_come_with_a_presigned_url_that_serves_the_photo(
        self, clients: list[httpx.AsyncClient], db: asyncpg.Connection
    ) -> None:
        response = await clients[0].post(NEXT, json={"queue": "photos"})
        assert response.status_code == 200
        item = response.json()
        expected = await db.fetchrow(
            "SELECT p.id FROM user_photos p JOIN users u ON u.id = p.user_id WHERE p.status = 'pending'"
            " AND p.deleted_at IS NULL AND u.deleted_at IS NULL AND p.id <> ALL($1)"
            " ORDER BY p.created_at, p.id LIMIT 1",
            [],
        )
        assert expected is not None
        assert item["id"] == str(expected["id"])
        assert item["photo"]["status"] == "pending"
        async with httpx.AsyncClient() as s3:
            photo = await s3.get(item["photo"]["url"])
        assert photo.status_code == 200
        assert photo.content[:3] == b"\xff\xd8\xff"  # the seed's JPEG

    async def test_reports_are_claimed_and_a_decision_by_another_is_409_unless_an_admin_forces(
        self,
        clients: list[httpx.AsyncClient],
        app: FastAPI,
        tokens: dict[Role, str],
        moderators: list[tuple[uuid.UUID, str]],
        db: asyncpg.Connection,
    ) -> None:
        await db.execute("UPDATE reports SET status = 'dismissed' WHERE status = 'open'")  # only tests file reports
        reported = await create_member(db, status="active")
        try:
            async with api_client(app, {"X-API-Key": tokens[Role.reporter]}) as reporter:
                filed = [
                    (
                        await reporter.post(REPORTS, json={"reported_member_id": str(reported), "reason_code": code})
                    ).json()
                    for code in ("spam", "scam")
                ]
            taken = (await clients[0].post(NEXT, json={"queue": "reports"})).json()
            assert taken["id"] == filed[0]["id"]
            assert taken["report"]["reason_code"] == "spam"
            assert taken["report"]["claimed_by"] == str(moderators[0][0])
            refused = await clients[1].patch(f"{REPORTS}/{filed[0]['id']}", json={"status": "dismissed"})
            assert refused.status_code == 409
            assert refused.json()["claimed_by"] == str(moderators[0][0])
            assert refused.json()["claimed_by_name"] == "moderator 0"
            not_admin = await clients[1].patch(
                f"{REPORTS}/{filed[0]['id']}", json={"status": "dismissed", "force": True}
            )
            assert not_admin.status_code == 403
            async with api_client(app, {"Authorization": f"Bearer {tokens[Role.admin]}"}) as admin:
                forced = await admin.patch(f"{REPORTS}/{filed[0]['id']}", json={"status": "dismissed", "force": True})
            assert forced.status_code == 200
            assert forced.json()["claimed_by"] is None
            audit = await db.fetchrow(
                "SELECT changes FROM audit_log WHERE action = 'report.dismissed' AND entity_id = $1", filed[0]["id"]
            )
            assert audit is not None
            assert "claim_overridden" in str(audit["changes"])
            # The claimer's own decision releases its claim.
            taken = (await clients[2].post(NEXT, json={"queue": "reports"})).json()
            assert taken["id"] == filed[1]["id"]
            done = await clients[2].patch(
                f"{REPORTS}/{filed[1]['id']}", json={"status": "actioned", "action": "warning"}
            )
            assert done.status_code == 200
            assert done.json()["claimed_until"] is None
            assert (await clients[3].post(NEXT, json={"queue": "reports"})).status_code == 204
        finally:
            await db.execute("DELETE FROM users WHERE id = $1", reported)

    @pytest.mark.parametrize("body", [{"queue": "everything"}, {}, {"queue": 1}])
    async def test_an_unknown_queue_is_422_naming_it(
        self, clients: list[httpx.AsyncClient], body: dict[str, object]
    ) -> None:
        response = await clients[0].post(NEXT, json=body)
        assert response.status_code == 422
        assert "queue" in str(response.json()["errors"])

    async def test_a_viewer_cannot_claim(self, client: httpx.AsyncClient) -> None:
        assert (await client.post(NEXT, json={"queue": "members"})).status_code == 403


RELEASE = "/api/v1/admin/reviews/release"


class TestRelease:
    async def test_a_released_member_is_the_next_claimers_at_its_place(
        self, clients: list[httpx.AsyncClient], oldest_pending: list[uuid.UUID], db: asyncpg.Connection
    ) -> None:
        first = (await clients[0].post(NEXT, json={"queue": "members"})).json()
        assert first["id"] == str(oldest_pending[0])
        response = await clients[0].post(RELEASE, json={"queue": "members", "id": first["id"]})
        assert response.status_code == 204
        row = await db.fetchrow("SELECT claimed_by, claimed_until FROM users WHERE id = $1", oldest_pending[0])
        assert row is not None
        assert (row["claimed_by"], row["claimed_until"]) == (None, None)
        audited = await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'member.released' AND entity_id = $1", first["id"]
        )
        assert audited == 1
        again = (await clients[1].post(NEXT, json={"queue": "members"})).json()
        assert again["id"] == first["id"]

    async def test_someone_elses_claim_is_left_alone(
        self, clients: list[httpx.AsyncClient], oldest_pending: list[uuid.UUID], db: asyncpg.Connection
    ) -> None:
        first = (await clients[0].post(NEXT, json={"queue": "members"})).json()
        response = await clients[1].post(RELEASE, json={"queue": "members", "id": first["id"]})
        assert response.status_code == 204
        holder = await db.fetchval("SELECT claimed_by FROM users WHERE id = $1", oldest_pending[0])
        assert str(holder) == first["claimed_by"]
        assert (
            await db.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'member.released' AND entity_id = $1", first["id"]
            )
            == 0
        )
        nothing = await clients[1].post(RELEASE, json={"queue": "photos", "id": str(uuid.uuid4())})
        assert nothing.status_code == 204

    async def test_a_bad_body_is_422_naming_the_field(self, clients: list[httpx.AsyncClient]) -> None:
        response = await clients[0].post(RELEASE, json={"queue": "members", "id": "nope"})
        assert response.status_code == 422
        assert "id" in str(response.json()["errors"])

    async def test_a_viewer_cannot_release(self, client: httpx.AsyncClient) -> None:
        body = {"queue": "members", "id": str(uuid.uuid4())}
        assert (await client.post(RELEASE, json=body)).status_code == 403

    async def test_a_skip_releases_and_the_skipper_is_handed_the_next_one(
        self, clients: list[httpx.AsyncClient], oldest_pending: list[uuid.UUID]
    ) -> None:
        first = (await clients[0].post(NEXT, json={"queue": "members"})).json()
        await clients[0].post(RELEASE, json={"queue": "members", "id": first["id"]})
        after_skip = await clients[0].post(NEXT, json={"queue": "members", "exclude": [first["id"]]})
        assert after_skip.json()["id"] == str(oldest_pending[1])
        other = (await clients[1].post(NEXT, json={"queue": "members"})).json()
        assert other["id"] == first["id"]  # back in the queue at its place, for someone else

    async def test_too_many_excluded_is_422_naming_it(self, clients: list[httpx.AsyncClient]) -> None:
        body = {"queue": "members", "exclude": [str(uuid.uuid4()) for _ in range(201)]}
        response = await clients[0].post(NEXT, json=body)
        assert response.status_code == 422
        assert "exclude" in str(response.json()["errors"])
