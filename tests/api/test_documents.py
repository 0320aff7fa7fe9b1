"""Member documents: presigned uploads through the real S3 server, completion, verification, rejection with a reason
code, claims, and deletion through the outbox."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.admin.schemas import OperatorRead
from backend.domain.identity import Role
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage
from backend.main import create_app
from backend.runtime.housekeeping import Housekeeper
from backend.runtime.outbox import OutboxWorker
from devtools.samples import sample_pdfs
from devtools.services import ServiceUrls
from tests.api.test_photos import create_member, remove_member
from tests.conftest import api_client, wait_for_replica
from tests.factories import HTML, jpeg_bytes, png_bytes

MEMBERS = "/api/v1/admin/members"
DOCUMENTS = "/api/v1/admin/documents"
PDF = sample_pdfs()["identity"]


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


@pytest.fixture
def storage(app: FastAPI) -> Storage:
    return app_state(app).storage


@pytest.fixture
async def member(db: asyncpg.Connection, storage: Storage) -> AsyncIterator[uuid.UUID]:
    member_id = await create_member(db)
    try:
        yield member_id
    finally:
        await db.execute("DELETE FROM outbox WHERE payload->>'member_id' = $1", str(member_id))
        await remove_member(db, storage, member_id)


async def start(
    client: httpx.AsyncClient, member_id: uuid.UUID, content_type: str = "application/pdf", doc_type: str = "identity"
) -> dict[str, Any]:
    response = await client.post(
        f"{MEMBERS}/{member_id}/documents", json={"doc_type": doc_type, "content_type": content_type}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_file(http: httpx.AsyncClient, started: dict[str, Any], content: bytes) -> httpx.Response:
    fields = dict(started["upload"]["fields"])
    return await http.post(
        started["upload"]["url"], data=fields, files={"file": ("doc", content, fields["Content-Type"])}
    )


async def uploaded(client: httpx.AsyncClient, http: httpx.AsyncClient, member_id: uuid.UUID) -> dict[str, Any]:
    """A document uploaded and completed: pending."""
    started = await start(client, member_id)
    assert (await post_file(http, started, PDF)).status_code == 204
    completed = await client.post(f"{DOCUMENTS}/{started['id']}/complete")
    assert completed.status_code == 200, completed.text
    body: dict[str, Any] = completed.json()
    return body


async def add_document(db: asyncpg.Connection, member_id: uuid.UUID, *, status: str = "pending") -> uuid.UUID:
    """A document row straight in the table (no object), for decision cases."""
    document_id: uuid.UUID = await db.fetchval(
        "INSERT INTO user_documents (user_id, doc_type, s3_key, content_type, status)"
        " VALUES ($1, 'identity', 'members/x/documents/y.pdf', 'application/pdf', $2) RETURNING id",
        member_id,
        status,
    )
    return document_id


async def document_row(db: asyncpg.Connection, document_id: str | uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM user_documents WHERE id = $1", uuid.UUID(str(document_id)))
    assert row is not None
    return row


async def audit_entries(db: asyncpg.Connection, document_id: str | uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    rows = await db.fetch(
        "SELECT action, changes FROM audit_log WHERE entity_type = 'document' AND entity_id = $1 ORDER BY id",
        str(document_id),
    )
    return [(r["action"], json.loads(r["changes"])) for r in rows]


async def outbox_payloads(db: asyncpg.Connection, topic: str, document_id: str | uuid.UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT payload FROM outbox WHERE topic = $1 AND payload->>'document_id' = $2 ORDER BY next_attempt_at, id",
        topic,
        str(document_id),
    )
    return [json.loads(r["payload"]) for r in rows]


async def wait_until_gone(storage: Storage, key: str) -> None:
    async with asyncio.timeout(15):
        while await storage.head(key) is not None:
            await asyncio.sleep(0.1)


class TestStartDocumentUpload:
    async def test_creates_an_uploading_document_and_a_form_for_its_upload_key(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, settings: Settings
    ) -> None:
        started = await start(moderator, member, doc_type="income")
        document_id = started["id"]
        assert started["status"] == "uploading"
        assert (started["doc_type"], started["content_type"]) == ("income", "application/pdf")
        assert started["s3_key"] == f"members/{member}/documents/{document_id}.pdf"
        assert started["upload"]["fields"]["key"] == f"members/{member}/uploads/{document_id}.pdf"
        assert started["upload"]["max_bytes"] == settings.document_max_bytes
        assert (await document_row(db, document_id))["status"] == "uploading"
        assert [action for action, _ in await audit_entries(db, document_id)] == ["document.upload_started"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"doc_type": "identity", "content_type": "image/webp"}, "content_type"),
            ({"doc_type": "passport", "content_type": "application/pdf"}, "doc_type"),
            ({"content_type": "application/pdf"}, "doc_type"),
        ],
    )
    async def test_bad_bodies_are_422_naming_the_field(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, body: dict[str, str], field: str
    ) -> None:
        response = await moderator.post(f"{MEMBERS}/{member}/documents", json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert field in json.dumps(response.json()["errors"])
        assert await db.fetchval("SELECT count(*) FROM user_documents WHERE user_id = $1", member) == 0

    async def test_announced_size_over_the_limit_is_422(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, settings: Settings
    ) -> None:
        body = {
            "doc_type": "identity",
            "content_type": "application/pdf",
            "size_bytes": settings.document_max_bytes + 1,
        }
        response = await moderator.post(f"{MEMBERS}/{member}/documents", json=body)
        assert response.status_code == 422
        assert response.json()["field"] == "size_bytes"

    async def test_unknown_or_deleted_member_is_404(self, moderator: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        body = {"doc_type": "identity", "content_type": "application/pdf"}
        assert (await moderator.post(f"{MEMBERS}/{uuid.uuid4()}/documents", json=body)).status_code == 404
        gone = await create_member(db, deleted=True)
        try:
            assert (await moderator.post(f"{MEMBERS}/{gone}/documents", json=body)).status_code == 404
        finally:
            await db.execute("DELETE FROM users WHERE id = $1", gone)


class TestUploadVerifyReject:
    async def test_round_trip_upload_complete_verify_with_the_object_checked_in_s3(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        services: ServiceUrls,
        storage: Storage,
    ) -> None:
        started = await start(moderator, member)
        document_id = started["id"]
        await wait_for_replica(services)
        detail = (await client.get(f"{MEMBERS}/{member}")).json()
        assert [d for d in detail["documents"] if d["id"] == document_id] == []  # not checked yet: not shown

        assert (await post_file(http, started, PDF)).status_code == 204
        completed = await moderator.post(f"{DOCUMENTS}/{document_id}/complete")
        assert completed.status_code == 200, completed.text
        assert (completed.json()["status"], completed.json()["size_bytes"]) == ("pending", len(PDF))
        head = await storage.head(started["s3_key"])
        assert head is not None
        await wait_until_gone(storage, started["upload"]["fields"]["key"])  # the upload key is discarded

        await wait_for_replica(services)
        detail = (await client.get(f"{MEMBERS}/{member}")).json()
        [shown] = [d for d in detail["documents"] if d["id"] == document_id]
        assert shown["url"] is None  # an identity document's URL is issued on its own, and logged
        issued = await moderator.post(f"{DOCUMENTS}/{document_id}/url")
        assert issued.status_code == 200, issued.text
        fetched = await http.get(issued.json()["url"])
        assert (fetched.status_code, fetched.content) == (200, PDF)
        assert fetched.headers["content-type"] == "application/pdf"
        assert fetched.headers["content-disposition"] == "attachment"

        verified = await moderator.patch(f"{DOCUMENTS}/{document_id}", json={"status": "verified"})
        assert verified.status_code == 200, verified.text
        assert verified.json()["status"] == "verified"
        assert (await document_row(db, document_id))["status"] == "verified"
        actions = [action for action, _ in await audit_entries(db, document_id)]
        assert actions == ["document.upload_started", "document.completed", "document.verified"]
        assert len(await outbox_payloads(db, "document.verified", document_id)) == 1

    async def test_reject_stores_the_reason_code_on_the_row_the_audit_and_the_event(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        document_id = await add_document(db, member)
        body = {"status": "rejected", "reason_code": "impersonation", "reason": "Not the member's face"}
        response = await moderator.patch(f"{DOCUMENTS}/{document_id}", json=body)
        assert response.status_code == 200, response.text
        assert (response.json()["reason_code"], response.json()["status_reason"]) == (
            "impersonation",
            "Not the member's face",
        )
        row = await document_row(db, document_id)
        assert (row["status"], row["reason_code"], row["status_reason"]) == (
            "rejected",
            "impersonation",
            "Not the member's face",
        )
        [(action, changes)] = await audit_entries(db, document_id)
        assert action == "document.rejected"
        assert changes["reason_code"] == {"before": None, "after": "impersonation"}
        [event] = await outbox_payloads(db, "document.rejected", document_id)
        assert (event["reason_code"], event["reason"], event["member_id"]) == (
            "impersonation",
            "Not the member's face",
            str(member),
        )

    async def test_verifying_a_rejected_document_clears_its_reason(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        document_id = await add_document(db, member)
        body = {"status": "rejected", "reason_code": "spam"}
        assert (await moderator.patch(f"{DOCUMENTS}/{document_id}", json=body)).status_code == 200
        assert (await moderator.patch(f"{DOCUMENTS}/{document_id}", json={"status": "verified"})).status_code == 200
        row = await document_row(db, document_id)
        assert (row["status"], row["reason_code"], row["status_reason"]) == ("verified", None, None)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"status": "rejected"}, "reason_code"),
            ({"status": "rejected", "reason_code": "bogus"}, "reason_code"),
            ({"status": "rejected", "reason_code": "other"}, "reason"),
            ({"status": "rejected", "reason_code": "other", "reason": "   "}, "reason"),
            ({"status": "pending"}, "status"),
            ({"status": "verified", "extra": 1}, "extra"),
        ],
    )
    async def test_bad_decisions_are_422_naming_the_field_and_change_nothing(
        self,
        moderator: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        body: dict[str, object],
        field: str,
    ) -> None:
        document_id = await add_document(db, member)
        response = await moderator.patch(f"{DOCUMENTS}/{document_id}", json=body)
        assert response.status_code == 422, response.text
        assert field in json.dumps(response.json()["errors"])
        assert (await document_row(db, document_id))["status"] == "pending"
        assert await audit_entries(db, document_id) == []

    async def test_an_upload_not_completed_cannot_be_decided(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(moderator, member)
        response = await moderator.patch(f"{DOCUMENTS}/{started['id']}", json={"status": "verified"})
        assert response.status_code == 409
        assert (await document_row(db, started["id"]))["status"] == "uploading"

    async def test_bytes_that_are_not_the_declared_type_are_409_and_stay_uploading(
        self, moderator: httpx.AsyncClient, http: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(moderator, member)
        assert (await post_file(http, started, HTML)).status_code == 204
        response = await moderator.post(f"{DOCUMENTS}/{started['id']}/complete")
        assert response.status_code == 409
        assert response.json()["problem"] == "content_type"
        assert (await document_row(db, started["id"]))["status"] == "uploading"

    @pytest.mark.parametrize(("content_type", "content"), [("image/jpeg", jpeg_bytes()), ("image/png", png_bytes())])
    async def test_images_are_documents_too(
        self,
        moderator: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        content_type: str,
        content: bytes,
    ) -> None:
        started = await start(moderator, member, content_type=content_type)
        assert (await post_file(http, started, content)).status_code == 204
        completed = await moderator.post(f"{DOCUMENTS}/{started['id']}/complete")
        assert completed.status_code == 200, completed.text

    async def test_complete_without_a_file_is_409_missing(
        self, moderator: httpx.AsyncClient, member: uuid.UUID
    ) -> None:
        started = await start(moderator, member)
        response = await moderator.post(f"{DOCUMENTS}/{started['id']}/complete")
        assert (response.status_code, response.json()["problem"]) == (409, "missing")

    async def test_unknown_document_is_404(self, moderator: httpx.AsyncClient) -> None:
        assert (await moderator.post(f"{DOCUMENTS}/{uuid.uuid4()}/complete")).status_code == 404
        assert (await moderator.patch(f"{DOCUMENTS}/{uuid.uuid4()}", json={"status": "verified"})).status_code == 404
        assert (await moderator.delete(f"{DOCUMENTS}/{uuid.uuid4()}")).status_code == 404


@pytest.fixture(scope="module")
async def s3_down(settings: Settings, tokens: dict[Role, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A moderator's client on an app whose S3 endpoint is a closed port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    application = create_app(settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{port}"}))
    async with (
        application.router.lifespan_context(application),
        api_client(application, {"Authorization": f"Bearer {tokens[Role.moderator]}"}) as c,
    ):
        worker = app_state(application).outbox_worker
        assert isinstance(worker, OutboxWorker)
        await worker.stop()
        yield c


async def test_unreachable_s3_at_completion_is_503_and_changes_nothing(
    s3_down: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
) -> None:
    started = await start(s3_down, member)
    response = await s3_down.post(f"{DOCUMENTS}/{started['id']}/complete")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert (await document_row(db, started["id"]))["status"] == "uploading"


class TestClaims:
    async def claim(
        self, db: asyncpg.Connection, document_id: uuid.UUID, holder: OperatorRead, *, seconds: int = 300
    ) -> datetime:
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        await db.execute(
            "UPDATE user_documents SET claimed_by = $2, claimed_until = $3 WHERE id = $1", document_id, holder.id, until
        )
        return until

    async def test_a_document_claimed_by_another_is_409_naming_the_claimer(
        self,
        moderator: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        operators: dict[Role, OperatorRead],
    ) -> None:
        document_id = await add_document(db, member)
        await self.claim(db, document_id, operators[Role.admin])
        response = await moderator.patch(f"{DOCUMENTS}/{document_id}", json={"status": "verified"})
        assert response.status_code == 409
        assert response.json()["claimed_by"] == str(operators[Role.admin].id)
        assert response.json()["claimed_by_name"] == operators[Role.admin].name
        assert (await document_row(db, document_id))["status"] == "pending"
        # Only an admin may force past it.
        forced = await moderator.patch(f"{DOCUMENTS}/{document_id}", json={"status": "verified", "force": True})
        assert forced.status_code == 403

    async def test_an_admin_may_force_and_the_override_is_audited(
        self,
        admin: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        operators: dict[Role, OperatorRead],
    ) -> None:
        document_id = await add_document(db, member)
        await self.claim(db, document_id, operators[Role.moderator])
        response = await admin.patch(f"{DOCUMENTS}/{document_id}", json={"status": "verified", "force": True})
        assert response.status_code == 200, response.text
        row = await document_row(db, document_id)
        assert (row["status"], row["claimed_by"], row["claimed_until"]) == ("verified", None, None)
        [(action, changes)] = await audit_entries(db, document_id)
        assert action == "document.verified"
        assert changes["claim_overridden"]["before"]["claimed_by"] == str(operators[Role.moderator].id)

    async def test_the_claimers_decision_releases_the_claim_and_a_lapsed_claim_binds_nobody(
        self,
        moderator: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        operators: dict[Role, OperatorRead],
    ) -> None:
        mine = await add_document(db, member)
        await self.claim(db, mine, operators[Role.moderator])
        body = {"status": "rejected", "reason_code": "fake_profile"}
        assert (await moderator.patch(f"{DOCUMENTS}/{mine}", json=body)).status_code == 200
        row = await document_row(db, mine)
        assert (row["status"], row["claimed_by"], row["claimed_until"]) == ("rejected", None, None)

        lapsed = await add_document(db, member)
        await self.claim(db, lapsed, operators[Role.admin], seconds=-1)
        assert (await moderator.patch(f"{DOCUMENTS}/{lapsed}", json={"status": "verified"})).status_code == 200


class TestDeleteDocument:
    async def test_delete_hides_the_document_and_enqueues_the_objects_deletion(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        services: ServiceUrls,
        storage: Storage,
    ) -> None:
        document = await uploaded(moderator, http, member)
        response = await moderator.delete(f"{DOCUMENTS}/{document['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["deleted_at"] is not None
        [event] = await outbox_payloads(db, "document.deleted", document["id"])
        assert (event["action"], event["s3_key"]) == ("delete_object", document["s3_key"])
        await wait_until_gone(storage, document["s3_key"])
        await wait_for_replica(services)
        detail = (await client.get(f"{MEMBERS}/{member}")).json()
        assert [d for d in detail["documents"] if d["id"] == document["id"]] == []
        assert (await moderator.delete(f"{DOCUMENTS}/{document['id']}")).status_code == 404

    async def test_an_unfinished_upload_deletes_both_keys_now_and_the_upload_key_after_the_form_expires(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, settings: Settings
    ) -> None:
        started = await start(moderator, member)
        assert (await moderator.delete(f"{DOCUMENTS}/{started['id']}")).status_code == 200
        rows = await db.fetch(
            "SELECT payload, next_attempt_at > now() + interval '1 minute' AS later FROM outbox"
            " WHERE topic = 'document.deleted' AND payload->>'document_id' = $1",
            started["id"],
        )
        keys = sorted((json.loads(r["payload"])["s3_key"], r["later"]) for r in rows)
        upload_key = started["upload"]["fields"]["key"]
        assert keys == sorted([(started["s3_key"], False), (upload_key, False), (upload_key, True)])


async def test_a_viewer_cannot_write(client: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection) -> None:
    document_id = await add_document(db, member)
    body = {"doc_type": "identity", "content_type": "application/pdf"}
    assert (await client.post(f"{MEMBERS}/{member}/documents", json=body)).status_code == 403
    assert (await client.patch(f"{DOCUMENTS}/{document_id}", json={"status": "verified"})).status_code == 403
    assert (await client.delete(f"{DOCUMENTS}/{document_id}")).status_code == 403


async def test_housekeeping_removes_an_abandoned_document_upload_and_keeps_younger_and_completed_ones(
    app: FastAPI,
    settings: Settings,
    moderator: httpx.AsyncClient,
    http: httpx.AsyncClient,
    member: uuid.UUID,
    db: asyncpg.Connection,
    storage: Storage,
) -> None:
    abandoned = await start(moderator, member)
    assert (await post_file(http, abandoned, PDF)).status_code == 204  # the file arrived, complete never came
    young = await start(moderator, member)
    completed = await add_document(db, member)
    grace = timedelta(seconds=settings.document_upload_ttl_seconds + settings.photo_upload_grace_seconds)
    for document_id, age in (
        (abandoned["id"], grace + timedelta(minutes=1)),
        (young["id"], grace - timedelta(minutes=1)),
        (completed, grace + timedelta(minutes=1)),
    ):
        await db.execute(
            "UPDATE user_documents SET created_at = now() - $2::interval WHERE id = $1",
            uuid.UUID(str(document_id)),
            age,
        )

    report = await Housekeeper(app_state(app).database, storage, settings).run_once()

    assert report.abandoned_uploads >= 1
    assert (await document_row(db, abandoned["id"]))["deleted_at"] is not None
    assert (await document_row(db, young["id"]))["deleted_at"] is None
    assert (await document_row(db, completed))["deleted_at"] is None
    assert [action for action, _ in await audit_entries(db, abandoned["id"])][-1] == "document.upload_abandoned"
    events = await outbox_payloads(db, "document.upload_abandoned", abandoned["id"])
    assert [e["s3_key"] for e in events] == [abandoned["s3_key"], abandoned["upload"]["fields"]["key"]]
    await wait_until_gone(storage, abandoned["upload"]["fields"]["key"])
