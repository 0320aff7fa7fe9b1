"""Member photos: presigned uploads through the real S3 server, completion, moderation, order and deletion."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
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
from backend.domain.identity import HOUSEKEEPING, AuditContext, Role
from backend.domain.photo.service import PhotoService
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage
from backend.main import create_app
from backend.runtime.housekeeping import Housekeeper
from backend.runtime.outbox import OutboxWorker
from devtools.samples import sample_jpegs
from devtools.services import ServiceUrls
from tests.conftest import api_client, wait_for_replica
from tests.factories import HTML, WEBP, jpeg_bytes, png_bytes

MEMBERS = "/api/v1/admin/members"
PHOTOS = "/api/v1/admin/photos"
SMALL_LIMIT = 1024  # the least PHOTO_MAX_BYTES settings accept
JPEG = jpeg_bytes()


# -- fixtures and factories ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def small_limit(settings: Settings, tokens: dict[Role, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A moderator's client on an app whose PHOTO_MAX_BYTES is SMALL_LIMIT."""
    application = create_app(settings.model_copy(update={"photo_max_bytes": SMALL_LIMIT}))
    async with (
        application.router.lifespan_context(application),
        api_client(application, {"Authorization": f"Bearer {tokens[Role.moderator]}"}) as c,
    ):
        yield c


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
        # Its outbox worker would claim the other tests' object deletions and fail them against the closed port.
        worker = app_state(application).outbox_worker
        assert isinstance(worker, OutboxWorker)
        await worker.stop()
        yield c


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, for talking to S3 as a browser would."""
    async with httpx.AsyncClient() as c:
        yield c


@pytest.fixture
def storage(app: FastAPI) -> Storage:
    store = app_state(app).storage
    return store


async def create_member(db: asyncpg.Connection, *, status: str = "active", deleted: bool = False) -> uuid.UUID:
    """A member row of its own (no relations), with a phone no seeded member has."""
    member_id: uuid.UUID = await db.fetchval(
        "INSERT INTO users (phone, name, gender, birth_year, status, deleted_at)"
        " VALUES ($1, 'Photo Test', 'female', 1990, $2, CASE WHEN $3 THEN now() END) RETURNING id",
        f"+999{secrets.randbelow(10**11):011d}",
        status,
        deleted,
    )
    return member_id


async def add_photo(
    db: asyncpg.Connection,
    member_id: uuid.UUID,
    *,
    order: int,
    status: str = "pending",
    deleted: bool = False,
    reason: str | None = None,
    reason_code: str | None = None,
) -> uuid.UUID:
    """A photo row straight in the table (no object), for moderation and order cases."""
    photo_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO user_photos (id, user_id, s3_key, content_type, display_order, status, status_reason,"
        " reason_code, deleted_at) VALUES ($1, $2, $3, 'image/jpeg', $4, $5, $6, $7, CASE WHEN $8 THEN now() END)",
        photo_id,
        member_id,
        f"members/{member_id}/photos/{photo_id}.jpg",
        order,
        status,
        reason,
        reason_code,
        deleted,
    )
    return photo_id


async def remove_member(db: asyncpg.Connection, storage: Storage, member_id: uuid.UUID) -> None:
    """The member, its photos (cascade), its outbox events and its objects."""
    await db.execute("DELETE FROM outbox WHERE payload->>'member_id' = $1", str(member_id))
    await db.execute("DELETE FROM users WHERE id = $1", member_id)
    listing = await storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=f"members/{member_id}/")
    for item in listing.get("Contents", []):
        await storage.client.delete_object(Bucket=storage.bucket, Key=item["Key"])


@pytest.fixture
async def member(db: asyncpg.Connection, storage: Storage) -> AsyncIterator[uuid.UUID]:
    member_id = await create_member(db)
    try:
        yield member_id
    finally:
        await remove_member(db, storage, member_id)


async def start(client: httpx.AsyncClient, member_id: uuid.UUID, content_type: str = "image/jpeg") -> dict[str, Any]:
    response = await client.post(f"{MEMBERS}/{member_id}/photos", json={"content_type": content_type})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_file(
    http: httpx.AsyncClient, started: dict[str, Any], content: bytes, *, content_type: str | None = None
) -> httpx.Response:
    """The browser's part: the form's fields as given (Content-Type overridden if asked), then the file."""
    fields = dict(started["upload"]["fields"])
    if content_type is not None:
        fields["Content-Type"] = content_type
    return await http.post(
        started["upload"]["url"], data=fields, files={"file": ("photo", content, fields["Content-Type"])}
    )


async def photo_row(db: asyncpg.Connection, photo_id: str | uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM user_photos WHERE id = $1", uuid.UUID(str(photo_id)))
    assert row is not None
    return row


async def live_order(db: asyncpg.Connection, member_id: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
    rows = await db.fetch(
        "SELECT id, display_order FROM user_photos WHERE user_id = $1 AND deleted_at IS NULL"
        " ORDER BY display_order, id",
        member_id,
    )
    return [(r["id"], r["display_order"]) for r in rows]


async def audit_actions(db: asyncpg.Connection, photo_id: str | uuid.UUID) -> list[str]:
    rows = await db.fetch(
        "SELECT action FROM audit_log WHERE entity_type = 'photo' AND entity_id = $1 ORDER BY id", str(photo_id)
    )
    return [r["action"] for r in rows]


async def outbox_events(db: asyncpg.Connection, topic: str, photo_id: str | uuid.UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT payload FROM outbox WHERE topic = $1 AND payload->>'photo_id' = $2 ORDER BY id", topic, str(photo_id)
    )
    return [json.loads(r["payload"]) for r in rows]


# -- POST /admin/members/{id}/photos ---------------------------------------------------------------------------


class TestStartUpload:
    async def test_creates_an_uploading_photo_and_a_form_limited_to_its_key_type_and_size(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, settings: Settings
    ) -> None:
        before = datetime.now(UTC)
        body = await start(moderator, member)
        assert body["status"] == "uploading"
        assert body["member_id"] == str(member)
        assert body["display_order"] == 0
        assert body["s3_key"] == f"members/{member}/photos/{body['id']}.jpg"
        upload = body["upload"]
        # The form writes an upload key; the photo's own key is written only by complete.
        assert upload["fields"]["key"] == f"members/{member}/uploads/{body['id']}.jpg"
        assert upload["fields"]["Content-Type"] == "image/jpeg"
        assert upload["max_bytes"] == settings.photo_max_bytes
        policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
        assert {"Content-Type": "image/jpeg"} in policy["conditions"]
        assert ["content-length-range", 1, settings.photo_max_bytes] in policy["conditions"]
        assert {"key": upload["fields"]["key"]} in policy["conditions"]
        expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        ttl = timedelta(seconds=settings.photo_upload_ttl_seconds)
        assert before + ttl - timedelta(seconds=5) <= expires <= datetime.now(UTC) + ttl + timedelta(seconds=5)
        row = await photo_row(db, body["id"])
        assert (row["status"], row["content_type"], row["s3_key"]) == ("uploading", "image/jpeg", body["s3_key"])
        assert await audit_actions(db, body["id"]) == ["photo.upload_started"]

    @pytest.mark.parametrize(("content_type", "extension"), [("image/png", "png"), ("image/webp", "webp")])
    async def test_key_extension_follows_the_type(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, content_type: str, extension: str
    ) -> None:
        body = await start(moderator, member, content_type)
        assert body["s3_key"].endswith(f"/{body['id']}.{extension}")
        assert body["upload"]["fields"]["Content-Type"] == content_type

    async def test_goes_after_the_members_live_photos(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        await add_photo(db, member, order=0)
        await add_photo(db, member, order=1)
        await add_photo(db, member, order=5, deleted=True)
        assert (await start(moderator, member))["display_order"] == 2

    async def test_concurrent_uploads_get_distinct_positions(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        await asyncio.gather(*(start(moderator, member) for _ in range(5)))
        assert [order for _, order in await live_order(db, member)] == [0, 1, 2, 3, 4]

    @pytest.mark.parametrize("content_type", ["image/gif", "text/html", "IMAGE/JPEG", ""])
    async def test_other_content_types_are_422(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, content_type: str
    ) -> None:
        response = await moderator.post(f"{MEMBERS}/{member}/photos", json={"content_type": content_type})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert await live_order(db, member) == []

    async def test_announced_size_over_the_limit_is_422(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, settings: Settings
    ) -> None:
        response = await moderator.post(
            f"{MEMBERS}/{member}/photos",
            json={"content_type": "image/jpeg", "size_bytes": settings.photo_max_bytes + 1},
        )
        assert response.status_code == 422
        assert response.json()["field"] == "size_bytes"
        assert await live_order(db, member) == []

    async def test_unknown_member_is_404(self, moderator: httpx.AsyncClient) -> None:
        response = await moderator.post(f"{MEMBERS}/{uuid.uuid4()}/photos", json={"content_type": "image/jpeg"})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_deleted_member_is_404(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, storage: Storage
    ) -> None:
        member_id = await create_member(db, deleted=True)
        try:
            response = await moderator.post(f"{MEMBERS}/{member_id}/photos", json={"content_type": "image/jpeg"})
            assert response.status_code == 404
            assert await live_order(db, member_id) == []
        finally:
            await remove_member(db, storage, member_id)


# -- the upload itself, through S3, and POST /admin/photos/{id}/complete ---------------------------------------


class TestUploadAndComplete:
    async def test_uploaded_file_is_served_back_by_the_member_detail(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        services: ServiceUrls,
    ) -> None:
        started = await start(moderator, member)
        uploaded = await post_file(http, started, JPEG)
        assert uploaded.status_code == 204, uploaded.text

        completed = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert completed.status_code == 200, completed.text
        assert completed.json()["status"] == "pending"
        assert completed.json()["size_bytes"] == len(JPEG)
        row = await photo_row(db, started["id"])
        assert (row["status"], row["size_bytes"]) == ("pending", len(JPEG))
        assert await audit_actions(db, started["id"]) == ["photo.upload_started", "photo.completed"]

        await wait_for_replica(services)
        detail = await client.get(f"{MEMBERS}/{member}")
        assert detail.status_code == 200
        [photo] = [p for p in detail.json()["photos"] if p["id"] == started["id"]]
        assert photo["status"] == "pending"
        fetched = await http.get(photo["url"])
        assert fetched.status_code == 200
        assert fetched.content == JPEG
        assert fetched.headers["content-type"] == "image/jpeg"

    async def test_wrongly_typed_upload_is_refused_by_s3(
        self, moderator: httpx.AsyncClient, http: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(moderator, member)
        refused = await post_file(http, started, JPEG, content_type="image/png")
        assert refused.status_code == 403
        assert "<Code>AccessDenied</Code>" in refused.text
        completed = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert completed.status_code == 409
        assert completed.json()["problem"] == "missing"
        assert (await photo_row(db, started["id"]))["status"] == "uploading"

    async def test_upload_to_another_key_is_refused_by_s3(
        self, moderator: httpx.AsyncClient, http: httpx.AsyncClient, member: uuid.UUID, storage: Storage
    ) -> None:
        started = await start(moderator, member)
        other_key = f"members/{member}/photos/{uuid.uuid4()}.jpg"
        fields = {**started["upload"]["fields"], "key": other_key}
        refused = await http.post(started["upload"]["url"], data=fields, files={"file": ("p", JPEG, "image/jpeg")})
        assert refused.status_code == 403
        assert await storage.head(other_key) is None

    async def test_oversized_upload_is_refused_by_s3(
        self, small_limit: httpx.AsyncClient, http: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(small_limit, member)
        assert started["upload"]["max_bytes"] == SMALL_LIMIT
        refused = await post_file(http, started, JPEG + bytes(SMALL_LIMIT + 1 - len(JPEG)))
        assert refused.status_code == 400
        assert "<Code>EntityTooLarge</Code>" in refused.text
        completed = await small_limit.post(f"{PHOTOS}/{started['id']}/complete")
        assert completed.status_code == 409
        assert (await photo_row(db, started["id"]))["status"] == "uploading"

        exactly = await post_file(http, started, JPEG + bytes(SMALL_LIMIT - len(JPEG)))
        assert exactly.status_code == 204
        completed = await small_limit.post(f"{PHOTOS}/{started['id']}/complete")
        assert completed.status_code == 200, completed.text
        assert completed.json()["size_bytes"] == SMALL_LIMIT

    async def test_empty_upload_is_refused_by_s3(
        self, moderator: httpx.AsyncClient, http: httpx.AsyncClient, member: uuid.UUID
    ) -> None:
        started = await start(moderator, member)
        refused = await post_file(http, started, b"")
        assert refused.status_code == 400
        assert "<Code>EntityTooSmall</Code>" in refused.text

    async def test_complete_without_an_object_is_409(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(moderator, member)
        response = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert "No file has been uploaded" in response.json()["detail"]
        assert (await photo_row(db, started["id"]))["status"] == "uploading"
        assert await audit_actions(db, started["id"]) == ["photo.upload_started"]

    async def test_complete_twice_is_409(
        self, moderator: httpx.AsyncClient, http: httpx.AsyncClient, member: uuid.UUID
    ) -> None:
        started = await start(moderator, member)
        assert (await post_file(http, started, JPEG)).status_code == 204
        assert (await moderator.post(f"{PHOTOS}/{started['id']}/complete")).status_code == 200
        again = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert again.status_code == 409
        assert again.json()["photo_status"] == "pending"

    async def test_object_of_another_type_put_around_the_policy_is_409_until_replaced(
        self,
        moderator: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        storage: Storage,
    ) -> None:
        started = await start(moderator, member)
        await storage.client.put_object(
            Bucket=storage.bucket,
            Key=started["upload"]["fields"]["key"],
            Body=b"<html></html>",
            ContentType="text/html",
        )
        refused = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert refused.status_code == 409
        assert refused.json()["problem"] == "content_type"
        assert "not a JPEG image" in refused.json()["detail"]
        assert (await photo_row(db, started["id"]))["status"] == "uploading"

        assert (await post_file(http, started, JPEG)).status_code == 204
        assert (await moderator.post(f"{PHOTOS}/{started['id']}/complete")).status_code == 200

    async def test_object_over_the_limit_put_around_the_policy_is_409(
        self, small_limit: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, storage: Storage
    ) -> None:
        started = await start(small_limit, member)
        await storage.client.put_object(
            Bucket=storage.bucket,
            Key=started["upload"]["fields"]["key"],
            Body=JPEG + bytes(SMALL_LIMIT * 2),
            ContentType="image/jpeg",
        )
        refused = await small_limit.post(f"{PHOTOS}/{started['id']}/complete")
        assert refused.status_code == 409
        assert refused.json()["problem"] == "size"
        assert str(len(JPEG) + SMALL_LIMIT * 2) in refused.json()["detail"]
        assert (await photo_row(db, started["id"]))["status"] == "uploading"

    async def test_empty_object_put_around_the_policy_is_409(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, storage: Storage
    ) -> None:
        started = await start(moderator, member)
        await storage.client.put_object(
            Bucket=storage.bucket, Key=started["upload"]["fields"]["key"], Body=b"", ContentType="image/jpeg"
        )
        refused = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert refused.status_code == 409
        assert (refused.json()["problem"], refused.json()["size_bytes"]) == ("size", 0)
        assert (await photo_row(db, started["id"]))["status"] == "uploading"

    async def test_unreachable_s3_is_503_and_changes_nothing(
        self, s3_down: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(s3_down, member)  # presigning needs no network
        response = await s3_down.post(f"{PHOTOS}/{started['id']}/complete")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) > 0
        assert (await photo_row(db, started["id"]))["status"] == "uploading"

    async def test_unknown_photo_is_404(self, moderator: httpx.AsyncClient) -> None:
        assert (await moderator.post(f"{PHOTOS}/{uuid.uuid4()}/complete")).status_code == 404


# -- PATCH /admin/photos/{id}: moderation ----------------------------------------------------------------------


class TestModeratePhoto:
    async def test_approve_a_pending_photo(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photo_id = await add_photo(db, member, order=0)
        response = await moderator.patch(f"{PHOTOS}/{photo_id}", json={"status": "approved"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "approved"
        assert (await photo_row(db, photo_id))["status"] == "approved"
        assert await audit_actions(db, photo_id) == ["photo.approved"]
        changes = json.loads(
            await db.fetchval(
                "SELECT changes FROM audit_log WHERE entity_type = 'photo' AND entity_id = $1", str(photo_id)
            )
        )
        assert changes["status"] == {"before": "pending", "after": "approved"}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"status": "rejected"}, "reason_code"),
            ({"status": "rejected", "reason_code": "nudity", "reason": "   "}, "reason"),
            ({"status": "rejected", "reason_code": "other"}, "reason"),
            ({"status": "rejected", "reason_code": "blurry"}, "reason_code"),
            ({"status": "approved", "reason_code": "nudity"}, "reason_code"),
            ({"display_order": 0, "reason_code": "nudity"}, "reason_code"),
        ],
    )
    async def test_a_rejection_needs_a_known_reason_code_and_a_reason_for_other(
        self,
        moderator: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        body: dict[str, Any],
        field: str,
    ) -> None:
        photo_id = await add_photo(db, member, order=0)
        response = await moderator.patch(f"{PHOTOS}/{photo_id}", json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["loc"] for error in response.json()["errors"]] == [["body", field]]
        assert (await photo_row(db, photo_id))["status"] == "pending"

    async def test_reject_records_the_reason_code_and_enqueues_photo_rejected(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photo_id = await add_photo(db, member, order=0, status="approved")
        body = {"status": "rejected", "reason_code": "nudity", "reason": "Blurry"}
        response = await moderator.patch(f"{PHOTOS}/{photo_id}", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["status"], answer["reason_code"], answer["status_reason"]) == ("rejected", "nudity", "Blurry")
        row = await photo_row(db, photo_id)
        assert (row["status"], row["reason_code"], row["status_reason"]) == ("rejected", "nudity", "Blurry")
        assert await outbox_events(db, "photo.rejected", photo_id) == [
            {"member_id": str(member), "photo_id": str(photo_id), "reason_code": "nudity", "reason": "Blurry"}
        ]
        assert await audit_actions(db, photo_id) == ["photo.rejected"]
        changes = json.loads(await db.fetchval("SELECT changes FROM audit_log WHERE entity_id = $1", str(photo_id)))
        assert changes["reason_code"] == {"before": None, "after": "nudity"}

    async def test_approving_a_rejected_photo_clears_its_reason(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photo_id = await add_photo(db, member, order=0, status="rejected", reason="Blurry", reason_code="spam")
        response = await moderator.patch(f"{PHOTOS}/{photo_id}", json={"status": "approved"})
        assert response.status_code == 200
        row = await photo_row(db, photo_id)
        assert (row["status"], row["status_reason"], row["reason_code"]) == ("approved", None, None)

    async def test_the_same_decision_again_changes_nothing(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photo_id = await add_photo(db, member, order=0, status="rejected", reason="Blurry", reason_code="spam")
        body = {"status": "rejected", "reason_code": "spam", "reason": "Blurry"}
        response = await moderator.patch(f"{PHOTOS}/{photo_id}", json=body)
        assert response.status_code == 200
        assert await audit_actions(db, photo_id) == []
        assert await outbox_events(db, "photo.rejected", photo_id) == []

    async def test_a_photo_claimed_by_another_operator_is_409_naming_them_unless_an_admin_forces_it(
        self,
        moderator: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        operators: dict[Role, OperatorRead],
    ) -> None:
        photo_id = await add_photo(db, member, order=0)
        holder = operators[Role.viewer]  # anyone but the deciding moderator and admin
        await db.execute(
            "UPDATE user_photos SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = $1",
            photo_id,
            holder.id,
        )
        refused = await moderator.patch(f"{PHOTOS}/{photo_id}", json={"status": "approved"})
        assert refused.status_code == 409
        assert (refused.json()["claimed_by"], refused.json()["claimed_by_name"]) == (str(holder.id), holder.name)
        not_admin = await moderator.patch(f"{PHOTOS}/{photo_id}", json={"status": "approved", "force": True})
        assert not_admin.status_code == 403
        assert (await photo_row(db, photo_id))["status"] == "pending"
        await db.execute("UPDATE user_photos SET claimed_by = $2 WHERE id = $1", photo_id, operators[Role.moderator].id)
        own = await moderator.patch(f"{PHOTOS}/{photo_id}", json={"status": "approved"})
        assert own.status_code == 200, own.text
        row = await photo_row(db, photo_id)
        assert (row["status"], row["claimed_by"], row["claimed_until"]) == ("approved", None, None)
        await db.execute(
            "UPDATE user_photos SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = $1",
            photo_id,
            holder.id,
        )
        forced = await admin.patch(
            f"{PHOTOS}/{photo_id}", json={"status": "rejected", "reason_code": "violence", "force": True}
        )
        assert forced.status_code == 200, forced.text
        changes = json.loads(
            await db.fetchval(
                "SELECT changes FROM audit_log WHERE entity_id = $1 AND action = 'photo.rejected'", str(photo_id)
            )
        )
        assert changes["claim_overridden"]["before"]["claimed_by"] == str(holder.id)
        assert changes["claimed_by"] == {"before": str(holder.id), "after": None}

    @pytest.mark.parametrize("status", ["approved", "rejected"])
    async def test_an_uploading_photo_cannot_be_moderated(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, status: str
    ) -> None:
        photo_id = await add_photo(db, member, order=0, status="uploading")
        body = {"status": status, "reason": "No"} | ({"reason_code": "spam"} if status == "rejected" else {})
        response = await moderator.patch(f"{PHOTOS}/{photo_id}", json=body)
        assert response.status_code == 409
        assert (await photo_row(db, photo_id))["status"] == "uploading"
        assert await outbox_events(db, "photo.rejected", photo_id) == []

    @pytest.mark.parametrize(
        "body",
        [{}, {"status": "pending"}, {"status": "uploading"}, {"reason": "x"}, {"display_order": -1}, {"x": 1}],
    )
    async def test_invalid_bodies_are_422(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, body: dict[str, Any]
    ) -> None:
        photo_id = await add_photo(db, member, order=0)
        response = await moderator.patch(f"{PHOTOS}/{photo_id}", json=body)
        assert response.status_code == 422
        assert (await photo_row(db, photo_id))["status"] == "pending"

    async def test_unknown_or_deleted_photo_is_404(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        deleted = await add_photo(db, member, order=0, deleted=True)
        for photo_id in (deleted, uuid.uuid4()):
            response = await moderator.patch(f"{PHOTOS}/{photo_id}", json={"status": "approved"})
            assert response.status_code == 404

    async def test_photo_of_a_deleted_member_is_404(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photo_id = await add_photo(db, member, order=0)
        await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member)
        response = await moderator.patch(f"{PHOTOS}/{photo_id}", json={"status": "approved"})
        assert response.status_code == 404


# -- PATCH /admin/photos/{id}: order ---------------------------------------------------------------------------


class TestReorderPhotos:
    async def _photos(self, db: asyncpg.Connection, member_id: uuid.UUID, count: int) -> list[uuid.UUID]:
        return [await add_photo(db, member_id, order=n) for n in range(count)]

    @pytest.mark.parametrize(
        ("moved", "to", "expected"),
        [(3, 0, [3, 0, 1, 2]), (0, 3, [1, 2, 3, 0]), (1, 2, [0, 2, 1, 3]), (2, 2, [0, 1, 2, 3])],
    )
    async def test_moving_a_photo_shifts_the_others(
        self,
        moderator: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        moved: int,
        to: int,
        expected: list[int],
    ) -> None:
        photos = await self._photos(db, member, 4)
        response = await moderator.patch(f"{PHOTOS}/{photos[moved]}", json={"display_order": to})
        assert response.status_code == 200, response.text
        assert response.json()["display_order"] == to
        assert await live_order(db, member) == [(photos[i], n) for n, i in enumerate(expected)]
        assert await audit_actions(db, photos[moved]) == ([] if moved == to else ["photo.reordered"])

    async def test_gaps_and_ties_are_closed(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        a = await add_photo(db, member, order=0)
        b = await add_photo(db, member, order=4)
        c = await add_photo(db, member, order=4)
        await add_photo(db, member, order=1, deleted=True)
        response = await moderator.patch(f"{PHOTOS}/{a}", json={"display_order": 2})
        assert response.status_code == 200
        ties = sorted([b, c])
        assert await live_order(db, member) == [(ties[0], 0), (ties[1], 1), (a, 2)]

    async def test_position_past_the_last_photo_is_409(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        # Valid in itself (the schema allows it), but not for this member's photos as they are: a conflict.
        photos = await self._photos(db, member, 3)
        response = await moderator.patch(f"{PHOTOS}/{photos[0]}", json={"display_order": 3})
        assert response.status_code == 409
        assert response.json()["field"] == "display_order"
        assert await live_order(db, member) == [(p, n) for n, p in enumerate(photos)]

    async def test_moderate_and_move_at_once(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photos = await self._photos(db, member, 3)
        response = await moderator.patch(f"{PHOTOS}/{photos[2]}", json={"status": "approved", "display_order": 0})
        assert response.status_code == 200
        assert (response.json()["status"], response.json()["display_order"]) == ("approved", 0)
        assert await live_order(db, member) == [(photos[2], 0), (photos[0], 1), (photos[1], 2)]
        assert await audit_actions(db, photos[2]) == ["photo.approved", "photo.reordered"]

    async def test_a_failed_moderation_moves_nothing(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photos = [await add_photo(db, member, order=0, status="uploading"), await add_photo(db, member, order=1)]
        response = await moderator.patch(f"{PHOTOS}/{photos[0]}", json={"status": "approved", "display_order": 1})
        assert response.status_code == 409
        assert await live_order(db, member) == [(photos[0], 0), (photos[1], 1)]

    async def test_concurrent_moves_keep_orders_unique_and_dense(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photos = await self._photos(db, member, 6)
        moves = [(photos[i], (i * 5 + 3) % 6) for i in range(6)] * 2
        responses = await asyncio.gather(
            *(moderator.patch(f"{PHOTOS}/{photo}", json={"display_order": to}) for photo, to in moves)
        )
        assert [r.status_code for r in responses] == [200] * len(moves)
        order = await live_order(db, member)
        assert [n for _, n in order] == list(range(6))
        assert sorted(p for p, _ in order) == sorted(photos)


# -- DELETE /admin/photos/{id} ---------------------------------------------------------------------------------


class TestDeletePhoto:
    async def test_delete_hides_the_photo_and_enqueues_the_objects_deletion(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        services: ServiceUrls,
    ) -> None:
        first = await add_photo(db, member, order=0, status="approved")
        started = await start(moderator, member)
        assert (await post_file(http, started, JPEG)).status_code == 204
        assert (await moderator.post(f"{PHOTOS}/{started['id']}/complete")).status_code == 200
        last = await add_photo(db, member, order=2)

        response = await moderator.delete(f"{PHOTOS}/{started['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["id"] == started["id"]
        assert response.json()["deleted_at"] is not None
        assert (await photo_row(db, started["id"]))["deleted_at"] is not None
        assert await live_order(db, member) == [(first, 0), (last, 1)]
        assert await outbox_events(db, "photo.deleted", started["id"]) == [
            {
                "s3_key": started["s3_key"],
                "action": "delete_object",
                "photo_id": started["id"],
                "member_id": str(member),
            }
        ]
        assert (await audit_actions(db, started["id"]))[-1] == "photo.deleted"

        await wait_for_replica(services)
        detail = (await client.get(f"{MEMBERS}/{member}")).json()
        assert [p["id"] for p in detail["photos"]] == [str(first), str(last)]

    async def test_deleting_twice_is_404(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photo_id = await add_photo(db, member, order=0)
        assert (await moderator.delete(f"{PHOTOS}/{photo_id}")).status_code == 200
        assert (await moderator.delete(f"{PHOTOS}/{photo_id}")).status_code == 404
        assert len(await outbox_events(db, "photo.deleted", photo_id)) == 1

    async def test_an_unfinished_upload_can_be_deleted(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(moderator, member)
        assert (await moderator.delete(f"{PHOTOS}/{started['id']}")).status_code == 200
        keys = {e["s3_key"] for e in await outbox_events(db, "photo.deleted", started["id"])}
        assert keys == {started["s3_key"], started["upload"]["fields"]["key"]}


# -- housekeeping: abandoned uploads -----------------------------------------------------------------------------


def housekeeper(app: FastAPI, settings: Settings) -> Housekeeper:
    return Housekeeper(app_state(app).database, app_state(app).storage, settings)


async def backdate(db: asyncpg.Connection, photo_id: str | uuid.UUID, age: timedelta) -> None:
    await db.execute(
        "UPDATE user_photos SET created_at = now() - $2::interval WHERE id = $1", uuid.UUID(str(photo_id)), age
    )


class TestAbandonedUploads:
    async def test_an_upload_never_completed_is_removed_with_its_object_and_younger_or_completed_ones_stay(
        self,
        app: FastAPI,
        settings: Settings,
        moderator: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        storage: Storage,
    ) -> None:
        abandoned = await start(moderator, member)
        assert (await post_file(http, abandoned, JPEG)).status_code == 204  # the file arrived, complete never came
        completed = await add_photo(db, member, order=1)
        young = await start(moderator, member)
        grace = timedelta(seconds=settings.photo_upload_ttl_seconds + settings.photo_upload_grace_seconds)
        await backdate(db, abandoned["id"], grace + timedelta(minutes=1))
        await backdate(db, completed, grace + timedelta(minutes=1))
        await backdate(db, young["id"], grace - timedelta(minutes=1))

        report = await housekeeper(app, settings).run_once()

        assert report.abandoned_uploads >= 1
        assert (await photo_row(db, abandoned["id"]))["deleted_at"] is not None
        assert await live_order(db, member) == [(completed, 0), (uuid.UUID(young["id"]), 1)]
        assert (await audit_actions(db, abandoned["id"]))[-1] == "photo.upload_abandoned"
        events = await outbox_events(db, "photo.upload_abandoned", abandoned["id"])
        upload_key = abandoned["upload"]["fields"]["key"]
        # Its own key (a refused completion may have left a copy there) and its upload key, once: the form is long
        # expired.
        assert [(e["action"], e["s3_key"]) for e in events] == [
            ("delete_object", abandoned["s3_key"]),
            ("delete_object", upload_key),
        ]
        # The app's outbox worker deletes the object that did arrive.
        async with asyncio.timeout(15):
            while await storage.head(upload_key) is not None:
                await asyncio.sleep(0.1)
        assert (await moderator.post(f"{PHOTOS}/{abandoned['id']}/complete")).status_code == 404

    async def test_a_photo_completed_after_it_was_found_is_kept(
        self, app: FastAPI, settings: Settings, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(moderator, member)
        await backdate(db, started["id"], timedelta(days=30))
        await db.execute("UPDATE user_photos SET status = 'pending' WHERE id = $1", uuid.UUID(started["id"]))
        database = app_state(app).database
        async with database.write_sessions() as session, session.begin():
            service = PhotoService(
                session,
                AuditContext(HOUSEKEEPING, None),
                app_state(app).storage,
                max_bytes=settings.photo_max_bytes,
                upload_ttl_seconds=settings.photo_upload_ttl_seconds,
            )
            removed = await service.abandon_upload(uuid.UUID(started["id"]), started_before=datetime.now(UTC))
        assert removed is False
        assert (await photo_row(db, started["id"]))["deleted_at"] is None
        assert await outbox_events(db, "photo.upload_abandoned", started["id"]) == []

    async def test_an_upload_of_a_member_deleted_since_is_removed_too(
        self,
        app: FastAPI,
        settings: Settings,
        moderator: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        storage: Storage,
    ) -> None:
        """The form still works after its member is deleted; what it uploaded must not stay behind."""
        started = await start(moderator, member)
        await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member)
        assert (await post_file(http, started, JPEG)).status_code == 204
        await backdate(db, started["id"], timedelta(days=30))

        report = await housekeeper(app, settings).run_once()

        assert report.abandoned_uploads >= 1
        assert (await photo_row(db, started["id"]))["deleted_at"] is not None
        assert (await audit_actions(db, started["id"]))[-1] == "photo.upload_abandoned"
        await wait_until_gone(storage, started["upload"]["fields"]["key"])


# -- roles -------------------------------------------------------------------------------------------------------


class TestPhotoRoles:
    async def test_a_viewer_cannot_write(
        self, client: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        photo_id = await add_photo(db, member, order=0)
        responses = [
            await client.post(f"{MEMBERS}/{member}/photos", json={"content_type": "image/jpeg"}),
            await client.post(f"{PHOTOS}/{photo_id}/complete"),
            await client.patch(f"{PHOTOS}/{photo_id}", json={"status": "rejected", "reason_code": "spam"}),
            await client.delete(f"{PHOTOS}/{photo_id}"),
        ]
        assert [r.status_code for r in responses] == [403] * 4
        assert all(r.headers["content-type"] == "application/problem+json" for r in responses)
        assert await live_order(db, member) == [(photo_id, 0)]
        assert (await photo_row(db, photo_id))["status"] == "pending"
        assert await audit_actions(db, photo_id) == []


# -- what is served is what was checked (issue 11, items 3 and 4) ------------------------------------------------


async def served(
    client: httpx.AsyncClient, http: httpx.AsyncClient, services: ServiceUrls, member_id: uuid.UUID, photo_id: str
) -> httpx.Response:
    """The photo as the member detail serves it: its presigned URL, fetched."""
    await wait_for_replica(services)
    detail = await client.get(f"{MEMBERS}/{member_id}")
    assert detail.status_code == 200, detail.text
    [photo] = [p for p in detail.json()["photos"] if p["id"] == photo_id]
    return await http.get(photo["url"])


async def wait_until_gone(storage: Storage, key: str) -> None:
    async with asyncio.timeout(15):
        while await storage.head(key) is not None:
            await asyncio.sleep(0.1)


class TestServedObjectIsTheCheckedOne:
    async def test_posting_other_bytes_with_the_same_form_after_approval_changes_nothing_served(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        services: ServiceUrls,
    ) -> None:
        started = await start(moderator, member)
        assert (await post_file(http, started, JPEG)).status_code == 204
        assert (await moderator.post(f"{PHOTOS}/{started['id']}/complete")).status_code == 200
        approved = await moderator.patch(f"{PHOTOS}/{started['id']}", json={"status": "approved"})
        assert approved.status_code == 200

        # The form is still valid: S3 takes the new bytes, but at the upload key, which nothing serves.
        assert (await post_file(http, started, sample_jpegs()[1])).status_code == 204

        fetched = await served(client, http, services, member, started["id"])
        assert fetched.status_code == 200
        assert fetched.content == JPEG

    async def test_the_form_cannot_write_the_served_key(
        self, moderator: httpx.AsyncClient, http: httpx.AsyncClient, member: uuid.UUID, storage: Storage
    ) -> None:
        started = await start(moderator, member)
        assert started["upload"]["fields"]["key"] != started["s3_key"]
        fields = {**started["upload"]["fields"], "key": started["s3_key"]}
        refused = await http.post(started["upload"]["url"], data=fields, files={"file": ("p", JPEG, "image/jpeg")})
        assert refused.status_code == 403
        assert await storage.head(started["s3_key"]) is None

    async def test_complete_discards_the_upload_key_now_and_again_once_the_form_has_expired(
        self,
        app: FastAPI,
        settings: Settings,
        moderator: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        storage: Storage,
    ) -> None:
        started = await start(moderator, member)
        upload_key = started["upload"]["fields"]["key"]
        assert (await post_file(http, started, JPEG)).status_code == 204
        assert (await moderator.post(f"{PHOTOS}/{started['id']}/complete")).status_code == 200

        rows = await db.fetch(
            "SELECT id, payload, next_attempt_at FROM outbox WHERE topic = 'photo.completed'"
            " AND payload->>'photo_id' = $1 ORDER BY next_attempt_at",
            started["id"],
        )
        assert [json.loads(r["payload"])["s3_key"] for r in rows] == [upload_key, upload_key]
        created_at = (await photo_row(db, started["id"]))["created_at"]
        form_expires = created_at + timedelta(seconds=settings.photo_upload_ttl_seconds)
        assert rows[0]["next_attempt_at"] < form_expires < rows[1]["next_attempt_at"]
        await wait_until_gone(storage, upload_key)  # the first deletion, by the app's worker
        assert (await storage.head(started["s3_key"])) is not None  # the served copy stays

        # A late POST within the form's life puts the key back; the second deletion, once due, removes it.
        assert (await post_file(http, started, sample_jpegs()[1])).status_code == 204
        await db.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", rows[1]["id"])
        app_state(app).outbox_worker.nudge()
        await wait_until_gone(storage, upload_key)
        assert (await storage.head(started["s3_key"])) is not None

    async def test_complete_racing_a_second_post_serves_exactly_the_bytes_it_checked(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        services: ServiceUrls,
        db: asyncpg.Connection,
    ) -> None:
        started = await start(moderator, member, "image/png")
        assert (await post_file(http, started, png_bytes())).status_code == 204
        # HTML posted while complete runs: whichever object complete copies is the one it checks.
        completed, posted = await asyncio.gather(
            moderator.post(f"{PHOTOS}/{started['id']}/complete"), post_file(http, started, HTML)
        )
        assert posted.status_code == 204
        row = await photo_row(db, started["id"])
        if completed.status_code == 200:
            assert row["status"] == "pending"
            fetched = await served(client, http, services, member, started["id"])
            assert fetched.content == png_bytes()
        else:
            assert completed.status_code == 409
            assert completed.json()["problem"] == "content_type"
            assert row["status"] == "uploading"

    async def test_deleting_an_unfinished_upload_deletes_both_keys_now_and_the_upload_key_after_expiry(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        started = await start(moderator, member)
        upload_key = started["upload"]["fields"]["key"]
        assert (await moderator.delete(f"{PHOTOS}/{started['id']}")).status_code == 200
        rows = await db.fetch(
            "SELECT payload, next_attempt_at > now() + interval '1 minute' AS later FROM outbox"
            " WHERE topic = 'photo.deleted' AND payload->>'photo_id' = $1",
            started["id"],
        )
        keys = sorted((json.loads(r["payload"])["s3_key"], r["later"]) for r in rows)
        assert keys == sorted([(started["s3_key"], False), (upload_key, False), (upload_key, True)])


class TestCheckedType:
    @pytest.mark.parametrize(
        ("declared", "content", "detected"),
        [
            ("image/png", HTML, None),
            ("image/jpeg", HTML, None),
            ("image/png", JPEG, "image/jpeg"),
            ("image/webp", b"RIFF\x10\x00\x00\x00WEBPXXXX" + bytes(16), None),
        ],
    )
    async def test_bytes_that_are_not_the_declared_type_are_409_and_stay_uploading(
        self,
        moderator: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        declared: str,
        content: bytes,
        detected: str | None,
    ) -> None:
        started = await start(moderator, member, declared)
        assert (await post_file(http, started, content)).status_code == 204  # S3 only checks the declared type
        refused = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert (body["problem"], body["content_type"], body.get("detected_type")) == (
            "content_type",
            declared,
            detected,
        )
        assert (await photo_row(db, started["id"]))["status"] == "uploading"
        assert await audit_actions(db, started["id"]) == ["photo.upload_started"]

    @pytest.mark.parametrize(
        ("content_type", "content"), [("image/jpeg", JPEG), ("image/png", png_bytes()), ("image/webp", WEBP)]
    )
    async def test_each_accepted_type_is_served_with_its_checked_type(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        services: ServiceUrls,
        content_type: str,
        content: bytes,
    ) -> None:
        started = await start(moderator, member, content_type)
        assert (await post_file(http, started, content)).status_code == 204
        completed = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert completed.status_code == 200, completed.text
        fetched = await served(client, http, services, member, started["id"])
        assert (fetched.content, fetched.headers["content-type"]) == (content, content_type)

    async def test_after_a_refusal_the_right_file_can_still_be_posted_and_completed(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        services: ServiceUrls,
    ) -> None:
        started = await start(moderator, member, "image/png")
        assert (await post_file(http, started, HTML)).status_code == 204
        assert (await moderator.post(f"{PHOTOS}/{started['id']}/complete")).status_code == 409
        assert (await post_file(http, started, png_bytes())).status_code == 204
        completed = await moderator.post(f"{PHOTOS}/{started['id']}/complete")
        assert completed.status_code == 200, completed.text
        fetched = await served(client, http, services, member, started["id"])
        assert (fetched.content, fetched.headers["content-type"]) == (png_bytes(), "image/png")

    async def test_extra_form_fields_are_never_served(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        http: httpx.AsyncClient,
        member: uuid.UUID,
        services: ServiceUrls,
    ) -> None:
        """SeaweedFS, unlike AWS, accepts form fields the policy does not name, and stores them with the upload;
        the copy that is served carries only the checked type."""
        started = await start(moderator, member)
        extras = {
            "Content-Disposition": "inline; filename=photo.html",
            "Cache-Control": "public, max-age=31536000, immutable",
            "Expires": "Wed, 21 Oct 2099 07:28:00 GMT",
            "Content-Language": "xx",
            "success_action_redirect": "https://attacker.example/",
        }
        uploaded = await http.post(
            started["upload"]["url"],
            data={**started["upload"]["fields"], **extras},
            files={"file": ("photo", JPEG, "image/jpeg")},
        )
        assert uploaded.status_code in (204, 303, 403), uploaded.text  # 403 where the server enforces the policy
        if uploaded.status_code == 403:
            assert (await post_file(http, started, JPEG)).status_code == 204
        assert (await moderator.post(f"{PHOTOS}/{started['id']}/complete")).status_code == 200

        fetched = await served(client, http, services, member, started["id"])
        assert fetched.status_code == 200
        assert fetched.content == JPEG
        assert fetched.headers["content-type"] == "image/jpeg"
        for header in ("content-disposition", "cache-control", "expires", "content-language"):
            assert header not in fetched.headers, header
