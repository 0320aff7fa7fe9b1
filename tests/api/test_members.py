"""GET /api/v1/admin/members and /api/v1/admin/members/{id}, checked against SQL on seeded data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import SigV4Presigner, s3_client
from devtools.services import ServiceUrls
from tests.conftest import one, wait_for_replica

MEMBERS = "/api/v1/admin/members"
SEOUL = ZoneInfo("Asia/Seoul")


async def ids_where(
    db: asyncpg.Connection, where: str, *args: Any, order: str = "created_at DESC, id DESC"
) -> list[str]:
    rows = await db.fetch(f"SELECT id FROM users WHERE {where} ORDER BY {order}", *args)
    return [str(r["id"]) for r in rows]


async def fetch_all(
    client: httpx.AsyncClient, params: list[tuple[str, str | int | float | bool | None]]
) -> list[dict[str, Any]]:
    """Every page of a list by following X-Next-Cursor."""
    items: list[dict[str, Any]] = []
    response = await client.get(MEMBERS, params=params)
    assert response.status_code == 200, response.text
    items.extend(response.json())
    while cursor := response.headers.get("X-Next-Cursor"):
        response = await client.get(MEMBERS, params=[*params, ("cursor", cursor)])
        assert response.status_code == 200, response.text
        items.extend(response.json())
    return items


class TestListMembers:
    async def test_default_page_is_newest_live_members_with_exact_total(
        self, client: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        expected = await ids_where(db, "deleted_at IS NULL")
        response = await client.get(MEMBERS)
        assert response.status_code == 200
        assert [m["id"] for m in response.json()] == expected[:25]
        assert response.headers["X-Total-Count"] == str(len(expected))
        assert response.headers["Content-Range"] == f"members 0-24/{len(expected)}"
        assert 'rel="next"' in response.headers["Link"]
        exposed = response.headers["Access-Control-Expose-Headers"]
        assert {"X-Total-Count", "Content-Range", "Link"} <= {h.strip() for h in exposed.split(",")}

    @pytest.mark.parametrize(
        ("params", "where", "args"),
        [
            ({"status": "pending"}, "status = 'pending'", ()),
            ({"gender": "female", "status": "active"}, "gender = 'female' AND status = 'active'", ()),
            ([("status", "rejected"), ("status", "suspended")], "status IN ('rejected', 'suspended')", ()),
            ({"q": "kim"}, "name ILIKE '%kim%'", ()),
            ({"birth_year_min": "1980", "birth_year_max": "1990"}, "birth_year BETWEEN 1980 AND 1990", ()),
            (
                {"plan": "premium"},
                "EXISTS (SELECT 1 FROM user_subscriptions s WHERE s.id = users.id"
                " AND s.plan = 'premium' AND s.status = 'active')",
                (),
            ),
            (
                {"has_photos": "false"},
                "NOT EXISTS (SELECT 1 FROM user_photos p WHERE p.user_id = users.id AND p.deleted_at IS NULL)",
                (),
            ),
            (
                {"has_photos": "true"},
                "EXISTS (SELECT 1 FROM user_photos p WHERE p.user_id = users.id AND p.deleted_at IS NULL)",
                (),
            ),
        ],
    )
    async def test_filters_match_sql(
        self,
        client: httpx.AsyncClient,
        db: asyncpg.Connection,
        params: dict[str, str] | list[tuple[str, str]],
        where: str,
        args: tuple[Any, ...],
    ) -> None:
        expected = await ids_where(db, f"deleted_at IS NULL AND {where}", *args)
        page_params = [*(params.items() if isinstance(params, dict) else params), ("limit", "200")]
        response = await client.get(MEMBERS, params=page_params)
        assert response.status_code == 200, response.text
        assert [m["id"] for m in response.json()] == expected[:200]
        assert int(response.headers["X-Total-Count"]) == len(expected)

    async def test_q_matches_phone_digits(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        phone = await db.fetchval("SELECT phone FROM users WHERE deleted_at IS NULL ORDER BY created_at LIMIT 1")
        digits = phone[-6:]
        expected = await ids_where(db, "deleted_at IS NULL AND (phone LIKE $1 OR name ILIKE $1)", f"%{digits}%")
        response = await client.get(MEMBERS, params={"q": digits})
        assert [m["id"] for m in response.json()] == expected
        assert expected

    async def test_signed_up_dates_are_days_in_admin_timezone(
        self, client: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        today = datetime.now(SEOUL).date()
        start = today - timedelta(days=6)
        lower = datetime.combine(start, datetime.min.time(), tzinfo=SEOUL)
        upper = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=SEOUL)
        expected = await ids_where(db, "deleted_at IS NULL AND created_at >= $1 AND created_at < $2", lower, upper)
        response = await client.get(
            MEMBERS, params={"signed_up_from": start.isoformat(), "signed_up_to": today.isoformat(), "limit": "200"}
        )
        assert [m["id"] for m in response.json()] == expected
        assert expected, "the seed puts sign-ups in the last week"

    async def test_repeated_id_filter(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        wanted = (await ids_where(db, "deleted_at IS NULL"))[5:8]
        response = await client.get(MEMBERS, params=[("id", i) for i in wanted])
        assert sorted(m["id"] for m in response.json()) == sorted(wanted)
        assert response.headers["X-Total-Count"] == "3"

    async def test_soft_deleted_only_with_include_deleted(
        self, client: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        deleted = await ids_where(db, "deleted_at IS NOT NULL")
        assert deleted, "the seed soft-deletes a share of members"
        listed = await client.get(MEMBERS, params=[("id", i) for i in deleted])
        assert listed.json() == []
        included = await client.get(MEMBERS, params=[*[("id", i) for i in deleted], ("include_deleted", "true")])
        assert sorted(m["id"] for m in included.json()) == sorted(deleted)

    @pytest.mark.parametrize(
        ("sort", "order"),
        [
            ("name", "name ASC, id ASC"),
            ("-birth_year,name", "birth_year DESC, name ASC, id ASC"),
            ("status,-created_at", "status ASC, created_at DESC, id DESC"),
        ],
    )
    async def test_sort_several_fields(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, sort: str, order: str
    ) -> None:
        expected = await ids_where(db, "deleted_at IS NULL", order=order)
        response = await client.get(MEMBERS, params={"sort": sort, "limit": "200", "offset": "10"})
        assert [m["id"] for m in response.json()] == expected[10:210]

    async def test_offset_paging_headers(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        total = await db.fetchval("SELECT count(*) FROM users WHERE deleted_at IS NULL")
        response = await client.get(MEMBERS, params={"limit": "10", "offset": "20"})
        assert response.headers["Content-Range"] == f"members 20-29/{total}"
        assert "offset=30" in response.headers["Link"]
        assert "offset=10" in response.headers["Link"]

    @pytest.mark.parametrize("sort", ["-created_at", "name", "-birth_year,name", "gender,-updated_at"])
    async def test_cursor_paging_visits_every_row_once(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, sort: str
    ) -> None:
        expected = await ids_where(db, "deleted_at IS NULL AND status IN ('active', 'pending')")
        items = await fetch_all(client, [("sort", sort), ("limit", "17"), ("status", "active,pending")])
        seen = [m["id"] for m in items]
        assert len(seen) == len(set(seen))
        assert sorted(seen) == sorted(expected)

    async def test_cursor_follows_link_next(self, client: httpx.AsyncClient) -> None:
        first = await client.get(MEMBERS, params={"limit": "5"})
        second = await client.get(MEMBERS, params={"limit": "5", "cursor": first.headers["X-Next-Cursor"]})
        third_url = second.headers["Link"].split(";")[0].strip("<>")
        third = await client.get(third_url)
        offset_page = await client.get(MEMBERS, params={"limit": "5", "offset": "10"})
        assert [m["id"] for m in third.json()] == [m["id"] for m in offset_page.json()]

    async def test_simple_rest_style(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        expected = await ids_where(
            db, "deleted_at IS NULL AND status = 'pending' AND gender = 'male'", order="name DESC, id DESC"
        )
        response = await client.get(
            MEMBERS,
            params={
                "sort": json.dumps(["name", "DESC"]),
                "range": json.dumps([0, 9]),
                "filter": json.dumps({"status": "pending", "gender": "male"}),
            },
        )
        assert [m["id"] for m in response.json()] == expected[:10]
        assert response.headers["Content-Range"] == f"members 0-9/{len(expected)}"

    async def test_simple_rest_get_many(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        wanted = (await ids_where(db, "deleted_at IS NULL"))[:4]
        response = await client.get(MEMBERS, params={"filter": json.dumps({"id": wanted})})
        assert sorted(m["id"] for m in response.json()) == sorted(wanted)

    async def test_json_server_style(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        expected = await ids_where(db, "deleted_at IS NULL AND gender = 'female'", order="birth_year ASC, id ASC")
        response = await client.get(
            MEMBERS, params={"_sort": "birth_year", "_order": "ASC", "_start": "5", "_end": "15", "gender": "female"}
        )
        assert [m["id"] for m in response.json()] == expected[5:15]
        assert response.headers["X-Total-Count"] == str(len(expected))

    @pytest.mark.parametrize(
        ("params", "where"),
        [
            ({"status": "active"}, "deleted_at IS NULL AND status = 'active'"),
            ({"q": "a"}, "deleted_at IS NULL AND name ILIKE '%a%'"),
            (
                {"has_photos": "true", "gender": "male"},
                "deleted_at IS NULL AND gender = 'male' AND EXISTS "
                "(SELECT 1 FROM user_photos p WHERE p.user_id = users.id AND p.deleted_at IS NULL)",
            ),
            ({"include_deleted": "true"}, "true"),
        ],
    )
    async def test_a_page_past_the_end_still_carries_the_exact_total(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, params: dict[str, str], where: str
    ) -> None:
        # The total rides along in the page's own statement; a page with no rows must still count them.
        total = await db.fetchval(f"SELECT count(*) FROM users WHERE {where}")
        first = await client.get(MEMBERS, params={**params, "limit": "5"})
        beyond = await client.get(MEMBERS, params={**params, "limit": "5", "offset": str(total + 10)})
        assert first.headers["X-Total-Count"] == beyond.headers["X-Total-Count"] == str(total)
        assert beyond.json() == []

    async def test_estimated_count_on_request(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        total = await db.fetchval("SELECT count(*) FROM users WHERE deleted_at IS NULL")
        response = await client.get(MEMBERS, headers={"Prefer": "count=estimated"})
        assert response.status_code == 200
        # Small results are counted exactly even when an estimate is acceptable.
        assert response.headers["X-Total-Count"] == str(total)
        none = await client.get(MEMBERS, headers={"Prefer": "count=none"})
        assert "X-Total-Count" not in none.headers
        assert none.headers["Content-Range"].endswith("/*")

    async def test_summary_carries_first_photo_url(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        member = (await client.get(MEMBERS, params={"has_photos": "true", "limit": "1"})).json()[0]
        key = await db.fetchval(
            "SELECT s3_key FROM user_photos WHERE user_id = $1 AND deleted_at IS NULL ORDER BY display_order LIMIT 1",
            uuid.UUID(member["id"]),
        )
        assert member["photo_url"].split("?")[0].endswith(key)
        async with httpx.AsyncClient() as http:
            assert (await http.get(member["photo_url"])).status_code == 200

    @pytest.mark.parametrize(
        ("params", "parameter"),
        [
            ({"colour": "red"}, "colour"),
            ({"sort": "password"}, "sort"),
            ({"sort": "-phone"}, "sort"),
            ({"limit": "201"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"offset": "-1"}, "offset"),
            ({"status": "sleeping"}, "status"),
            ({"birth_year_min": "old"}, "birth_year_min"),
            ({"signed_up_from": "yesterday"}, "signed_up_from"),
            ({"id": "not-a-uuid"}, "id"),
            ({"cursor": "garbage!"}, "cursor"),
            ({"range": "[0,"}, "range"),
            ({"filter": '{"nope": 1}'}, "filter"),
        ],
    )
    async def test_bad_query_is_400_naming_the_parameter(
        self, client: httpx.AsyncClient, params: dict[str, str], parameter: str
    ) -> None:
        response = await client.get(MEMBERS, params=params)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 400
        assert parameter in body["detail"] or body.get("parameter") == parameter

    async def test_an_inverted_range_matches_nobody(self, client: httpx.AsyncClient) -> None:
        response = await client.get(MEMBERS, params={"birth_year_min": "1990", "birth_year_max": "1980"})
        assert response.status_code == 200, response.text
        assert (response.json(), response.headers["X-Total-Count"]) == ([], "0")

    async def test_cursor_from_another_sort_is_refused(self, client: httpx.AsyncClient) -> None:
        cursor = (await client.get(MEMBERS, params={"limit": "2"})).headers["X-Next-Cursor"]
        response = await client.get(MEMBERS, params={"limit": "2", "sort": "name", "cursor": cursor})
        assert response.status_code == 400
        assert response.json()["parameter"] == "cursor"


class TestGetMember:
    async def _member_with_everything(self, db: asyncpg.Connection) -> uuid.UUID:
        member_id: uuid.UUID = await db.fetchval(
            """
            SELECT u.id FROM users u
            WHERE u.deleted_at IS NULL
              AND EXISTS (SELECT 1 FROM user_photos p WHERE p.user_id = u.id AND p.deleted_at IS NULL)
              AND EXISTS (SELECT 1 FROM user_documents d WHERE d.user_id = u.id AND d.deleted_at IS NULL)
              AND EXISTS (SELECT 1 FROM user_lifestyles l WHERE l.id = u.id)
              AND EXISTS (SELECT 1 FROM user_preferences p WHERE p.id = u.id)
              AND EXISTS (SELECT 1 FROM user_subscriptions s WHERE s.id = u.id)
            ORDER BY u.created_at LIMIT 1
            """
        )
        assert member_id is not None
        return member_id

    async def test_detail_has_every_relation(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        member_id = await self._member_with_everything(db)
        response = await client.get(f"{MEMBERS}/{member_id}")
        assert response.status_code == 200
        body = response.json()
        user = await one(db, "SELECT * FROM users WHERE id = $1", member_id)
        assert body["name"] == user["name"]
        assert body["phone"] == user["phone"]
        assert body["version"] == user["version"]
        profile = await one(db, "SELECT * FROM user_profiles WHERE id = $1", member_id)
        assert body["profile"]["job"] == profile["job"]
        assert body["profile"]["height_cm"] == profile["height_cm"]
        assert body["lifestyle"]["smoking"] == await db.fetchval(
            "SELECT smoking FROM user_lifestyles WHERE id = $1", member_id
        )
        assert body["preference"]["regions"] == await db.fetchval(
            "SELECT regions FROM user_preferences WHERE id = $1", member_id
        )
        assert body["subscription"]["plan"] == await db.fetchval(
            "SELECT plan FROM user_subscriptions WHERE id = $1", member_id
        )
        photo_ids = [
            str(r["id"])
            for r in await db.fetch(
                "SELECT id FROM user_photos WHERE user_id = $1 AND deleted_at IS NULL ORDER BY display_order, id",
                member_id,
            )
        ]
        assert [p["id"] for p in body["photos"]] == photo_ids
        assert len(body["documents"]) == await db.fetchval(
            "SELECT count(*) FROM user_documents WHERE user_id = $1 AND deleted_at IS NULL", member_id
        )
        assert response.headers["ETag"] == f'"{user["version"]}"'

    async def test_deleted_photos_are_left_out(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        member_id = await self._member_with_everything(db)
        photo_id = await db.fetchval(
            "SELECT id FROM user_photos WHERE user_id = $1 AND deleted_at IS NULL ORDER BY display_order LIMIT 1",
            member_id,
        )
        await db.execute("UPDATE user_photos SET deleted_at = now() WHERE id = $1", photo_id)
        try:
            await wait_for_replica(services)
            photos = (await client.get(f"{MEMBERS}/{member_id}")).json()["photos"]
            assert str(photo_id) not in [p["id"] for p in photos]
        finally:
            await db.execute("UPDATE user_photos SET deleted_at = NULL WHERE id = $1", photo_id)
            await wait_for_replica(services)

    async def test_presigned_urls_return_the_objects_bytes(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
    ) -> None:
        member_id = await self._member_with_everything(db)
        body = (await client.get(f"{MEMBERS}/{member_id}")).json()
        async with s3_client(settings) as s3, httpx.AsyncClient() as http:
            for item in [*body["photos"], *body["documents"]]:
                if item.get("doc_type") == "identity":
                    assert item["url"] is None  # issued on its own, and logged (tests/api/test_data_rights.py)
                    continue
                table = "user_photos" if item in body["photos"] else "user_documents"
                key = await db.fetchval(f"SELECT s3_key FROM {table} WHERE id = $1", uuid.UUID(item["id"]))
                stored = await (await s3.get_object(Bucket=settings.s3_bucket, Key=key))["Body"].read()
                fetched = await http.get(item["url"])
                assert fetched.status_code == 200
                assert fetched.content == stored
                assert len(stored) > 0

    async def test_tampered_expired_and_anonymous_urls_are_refused(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
    ) -> None:
        member_id = await self._member_with_everything(db)
        url = (await client.get(f"{MEMBERS}/{member_id}")).json()["photos"][0]["url"]
        assert settings.s3_endpoint_url
        assert settings.s3_access_key_id
        assert settings.s3_secret_access_key
        presigner = SigV4Presigner(
            settings.s3_endpoint_url,
            settings.s3_bucket,
            settings.s3_region,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
        key = url.split("?")[0].split(f"/{settings.s3_bucket}/", 1)[1]
        expired = presigner.presign_get(key, 60, now=datetime.now(UTC) - timedelta(minutes=5))
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).status_code == 200
            assert (await http.get(url.replace("X-Amz-Expires=", "X-Amz-Expires=9"))).status_code == 403
            assert (await http.get(url[:-4] + ("0000" if not url.endswith("0000") else "1111"))).status_code == 403
            assert (await http.get(expired)).status_code == 403
            assert (await http.get(url.split("?")[0])).status_code == 403

    async def test_unknown_id_is_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{MEMBERS}/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_deleted_member_is_404(self, client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        deleted = await db.fetchval("SELECT id FROM users WHERE deleted_at IS NOT NULL LIMIT 1")
        assert (await client.get(f"{MEMBERS}/{deleted}")).status_code == 404

    async def test_malformed_id_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{MEMBERS}/12345")
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["path", "member_id"]


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzE/temporary+token=="])
@pytest.mark.parametrize("key", ["members/a b+c/ü~photo.jpg", "members/3f2a-91/photos/9b0c.jpg"])
def test_presigner_matches_botocore(key: str, token: str | None) -> None:
    """The in-process SigV4 presigner produces botocore's exact URL for the same instant, with static credentials
    and with temporary ones (whose session token is signed in the canonical query's sorted place)."""
    from unittest import mock

    import boto3
    import botocore.auth
    from botocore.config import Config

    fixed = datetime(2026, 11, 21, 12, 0, 0)

    class Frozen(datetime):  # botocore reads the clock through datetime.datetime
        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return fixed

        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return fixed if tz is None else fixed.replace(tzinfo=tz)

    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:8333",
        region_name="eu-west-2",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG",
        aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    with mock.patch.object(botocore.auth.datetime, "datetime", Frozen):  # type: ignore[attr-defined]
        expected = s3.generate_presigned_url("get_object", Params={"Bucket": "memberdesk", "Key": key}, ExpiresIn=900)
    presigner = SigV4Presigner(
        "http://127.0.0.1:8333", "memberdesk", "eu-west-2", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token
    )
    ours = urlsplit(presigner.presign_get(key, 900, fixed.replace(tzinfo=UTC)))
    theirs = urlsplit(expected)
    # The same URL and signature; botocore lists the token after X-Amz-SignedHeaders, an order S3 ignores.
    assert ours._replace(query="") == theirs._replace(query="")
    assert sorted(parse_qsl(ours.query)) == sorted(parse_qsl(theirs.query))
    if token is None:
        assert ours.query == theirs.query


async def test_estimated_count_uses_the_planner_for_large_results(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.domain.member import service

    monkeypatch.setattr(service, "EXACT_COUNT_BELOW", 0)
    response = await client.get(
        MEMBERS, params={"status": "active", "q": "o'brien%_"}, headers={"Prefer": "count=estimated"}
    )
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "count=estimated"
    assert int(response.headers["X-Total-Count"]) >= 0
    filtered = await client.get(
        MEMBERS, params={"gender": "female", "signed_up_from": "2024-01-01"}, headers={"Prefer": "count=estimated"}
    )
    assert filtered.status_code == 200
    assert int(filtered.headers["X-Total-Count"]) > 0
