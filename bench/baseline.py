"""The raw baseline of issue 6: the app's read SQL on asyncpg + orjson, a plain ASGI callable under uvicorn.

No ORM, no validation layer, no presigning: the floor the app is measured against. The SQL strings below are
the statements the app sent through SQLAlchemy when the benchmark was written; the app's repositories now write
their hottest SQL by hand (a list page also carries its total, a detail is one statement), and the list pages
here stay as they were: the page without its count, as issue 6 defines the ratio. Which photos a member shows
and the dashboard's counted numbers are the app's own definitions (`shown_photos`, COUNTED_*), imported, so
that both answer the same question. Reads go to the replica (BASELINE_DSN) through one asyncpg pool per process,
bounded like the app's (pool size + overflow). Statements run on one pooled connection without an explicit
transaction, except the CSV export, whose server-side cursor needs one.

Endpoints (all GET):

    /health                              ok
    /members?status=&gender=&limit=      first page; `count=exact` adds X-Total-Count
    /members?...&after=<iso>,<uuid>      keyset page after that (created_at, id)
    /members?q=&limit=                   search (name ILIKE, or name or phone digits)
    /members/export.csv                  every live member, streamed from a server-side cursor
    /members/<id>                        the user and its six relations (seven statements, one connection)
    /dashboard                           the FILTER count query and the three sections, as the app runs them
    /dashboard/counts                    the FILTER count query alone
    /dashboard/seven                     the same seven counts as seven queries gathered on seven connections
    /loader/<way>/<id>                   the detail's relations through SQLAlchemy (see bench/loaders.py)
    /w/...                               writes, POST and PATCH (bench/baseline_writes.py), on the primary

Run: `uvicorn bench.baseline:app` with BASELINE_DSN (asyncpg DSN of the replica), BASELINE_WRITE_DSN (the
primary's, for /w/) and, for /loader, the app's DATABASE_URL / DATABASE_REPLICA_URLS.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import orjson

from backend.domain.dashboard.repository import (
    COUNTED_ACTIVE_PLANS,
    COUNTED_MEMBER_COUNTS,
    COUNTED_PENDING_MODERATION,
)
from backend.domain.member.list_repository import photo_order, shown_photos
from bench import baseline_writes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The photos the app shows with a member, in its order (the rule is the app's, defined once).
SHOWN_PHOTO = shown_photos("user_photos")
PHOTO_ORDER = photo_order("user_photos")

_USER_COLUMNS = (
    "users.id, users.phone, users.name, users.gender, users.birth_year, users.status, users.created_at, "
    "users.updated_at, users.deleted_at, users.version"
)

LIST_PAGE = f"""
SELECT users.id, users.phone, users.name, users.gender, users.birth_year, users.status, users.created_at,
       users.updated_at, users.deleted_at, users.version,
       (SELECT user_photos.s3_key FROM user_photos
        WHERE user_photos.user_id = users.id AND {SHOWN_PHOTO}
        ORDER BY {PHOTO_ORDER} LIMIT 1) AS photo_key
FROM users
WHERE users.deleted_at IS NULL AND users.status IN ($1) AND users.gender IN ($2)
ORDER BY users.created_at DESC, users.id DESC
LIMIT $3 OFFSET 0
"""

LIST_PAGE_AFTER = f"""
SELECT users.id, users.phone, users.name, users.gender, users.birth_year, users.status, users.created_at,
       users.updated_at, users.deleted_at, users.version,
       (SELECT user_photos.s3_key FROM user_photos
        WHERE user_photos.user_id = users.id AND {SHOWN_PHOTO}
        ORDER BY {PHOTO_ORDER} LIMIT 1) AS photo_key
FROM users
WHERE users.deleted_at IS NULL AND users.status IN ($1) AND users.gender IN ($2)
  AND (users.created_at, users.id) < ($4::timestamptz, $5::uuid)
ORDER BY users.created_at DESC, users.id DESC
LIMIT $3 OFFSET 0
"""

LIST_COUNT = """
SELECT count(*) AS count_1 FROM users
WHERE users.deleted_at IS NULL AND users.status IN ($1) AND users.gender IN ($2)
"""

SEARCH_NAME = f"""
SELECT users.id, users.phone, users.name, users.gender, users.birth_year, users.status, users.created_at,
       users.updated_at, users.deleted_at, users.version,
       (SELECT user_photos.s3_key FROM user_photos
        WHERE user_photos.user_id = users.id AND {SHOWN_PHOTO}
        ORDER BY {PHOTO_ORDER} LIMIT 1) AS photo_key
FROM users
WHERE users.deleted_at IS NULL AND users.name ILIKE $1::varchar ESCAPE '\\'
ORDER BY users.created_at DESC, users.id DESC
LIMIT $2 OFFSET 0
"""

SEARCH_NAME_OR_PHONE = f"""
SELECT users.id, users.phone, users.name, users.gender, users.birth_year, users.status, users.created_at,
       users.updated_at, users.deleted_at, users.version,
       (SELECT user_photos.s3_key FROM user_photos
        WHERE user_photos.user_id = users.id AND {SHOWN_PHOTO}
        ORDER BY {PHOTO_ORDER} LIMIT 1) AS photo_key
FROM users
WHERE users.deleted_at IS NULL AND (users.name ILIKE $1::varchar ESCAPE '\\' OR users.phone LIKE $3::varchar)
ORDER BY users.created_at DESC, users.id DESC
LIMIT $2 OFFSET 0
"""

SEARCH_COUNT_NAME = """
SELECT count(*) AS count_1 FROM users
WHERE users.deleted_at IS NULL AND users.name ILIKE $1::varchar ESCAPE '\\'
"""

SEARCH_COUNT_NAME_OR_PHONE = """
SELECT count(*) AS count_1 FROM users
WHERE users.deleted_at IS NULL AND (users.name ILIKE $1::varchar ESCAPE '\\' OR users.phone LIKE $2::varchar)
"""

DETAIL_USER = """
SELECT users.id, users.phone, users.name, users.gender, users.birth_year, users.status, users.created_at,
       users.updated_at, users.deleted_at, users.version
FROM users WHERE users.id = $1::uuid AND users.deleted_at IS NULL
"""
DETAIL_PROFILE = """
SELECT user_profiles.id, user_profiles.height_cm, user_profiles.education, user_profiles.job,
       user_profiles.region, user_profiles.bio
FROM user_profiles WHERE user_profiles.id = $1::uuid
"""
DETAIL_LIFESTYLE = """
SELECT user_lifestyles.id, user_lifestyles.smoking, user_lifestyles.drinking, user_lifestyles.religion,
       user_lifestyles.exercise
FROM user_lifestyles WHERE user_lifestyles.id = $1::uuid
"""
DETAIL_PREFERENCE = """
SELECT user_preferences.id, user_preferences.age_min, user_preferences.age_max, user_preferences.height_min_cm,
       user_preferences.height_max_cm, user_preferences.regions
FROM user_preferences WHERE user_preferences.id = $1::uuid
"""
DETAIL_SUBSCRIPTION = """
SELECT user_subscriptions.id, user_subscriptions.plan, user_subscriptions.status, user_subscriptions.started_at,
       user_subscriptions.expires_at
FROM user_subscriptions WHERE user_subscriptions.id = $1::uuid
"""
DETAIL_PHOTOS = f"""
SELECT user_photos.id, user_photos.user_id, user_photos.s3_key, user_photos.content_type,
       user_photos.display_order, user_photos.status, user_photos.created_at, user_photos.deleted_at
FROM user_photos
WHERE user_photos.user_id = $1::uuid AND {SHOWN_PHOTO}
ORDER BY {PHOTO_ORDER}
"""
DETAIL_DOCUMENTS = """
SELECT user_documents.id, user_documents.user_id, user_documents.doc_type, user_documents.s3_key,
       user_documents.status, user_documents.created_at, user_documents.deleted_at
FROM user_documents
WHERE user_documents.user_id = $1::uuid AND user_documents.deleted_at IS NULL
ORDER BY user_documents.created_at, user_documents.id
"""

DASHBOARD_COUNTS = COUNTED_MEMBER_COUNTS
DASHBOARD_PLANS = COUNTED_ACTIVE_PLANS
DASHBOARD_MODERATION = COUNTED_PENDING_MODERATION
DASHBOARD_DAILY = """
SELECT (created_at AT TIME ZONE $2)::date AS day, count(*)
FROM users WHERE created_at >= $1 AND deleted_at IS NULL
GROUP BY 1 ORDER BY 1
"""
SEVEN_COUNTS = (
    ("total_members", "SELECT count(*) FROM users WHERE deleted_at IS NULL", "none"),
    ("monthly_signups", "SELECT count(*) FROM users WHERE deleted_at IS NULL AND created_at >= $1", "month"),
    ("weekly_signups", "SELECT count(*) FROM users WHERE deleted_at IS NULL AND created_at >= $1", "week"),
    ("today_signups", "SELECT count(*) FROM users WHERE deleted_at IS NULL AND created_at >= $1", "today"),
    ("male_count", "SELECT count(*) FROM users WHERE deleted_at IS NULL AND gender = 'male'", "none"),
    ("female_count", "SELECT count(*) FROM users WHERE deleted_at IS NULL AND gender = 'female'", "none"),
    ("pending_reviews", "SELECT count(*) FROM users WHERE deleted_at IS NULL AND status = 'pending'", "none"),
)

EXPORT = """
SELECT users.id, users.phone, users.name, users.gender, users.birth_year, users.status, users.created_at,
       users.updated_at
FROM users WHERE users.deleted_at IS NULL
ORDER BY users.created_at DESC, users.id DESC
"""
EXPORT_HEADER = ("id", "phone", "name", "gender", "birth_year", "status", "created_at", "updated_at")
EXPORT_BATCH = 2_000
SIGNUP_DAYS = 30

JSON_HEADERS = [(b"content-type", b"application/json")]


def _dumps(value: Any) -> bytes:
    # asyncpg's UUID subclass is not orjson's uuid.UUID: `default=str` covers it.
    return orjson.dumps(value, default=str)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _thresholds() -> tuple[datetime, datetime, datetime]:
    """The 30 and 7 days up to now, and today (UTC), as the app's dashboard counts them."""
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - timedelta(days=30), now - timedelta(days=7), today


class HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Baseline:
    """The ASGI application: a router over a handful of handlers and one asyncpg pool."""

    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None
        self.write_pool: asyncpg.Pool | None = None
        self.loaders: Any = None  # bench.loaders.LoaderBench, created on first use

    # --------------------------------------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            if scope["path"].startswith("/w/"):
                await self._write(scope, receive, send)
            else:
                await self._route(scope, send)
        except HttpError as exc:
            await self._send(send, exc.status, _dumps({"status": exc.status, "detail": exc.detail}))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            await self._send(send, 500, _dumps({"status": 500, "detail": repr(exc)}))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    pool_max = int(os.environ.get("BASELINE_POOL_MAX", "15"))
                    self.pool = await asyncpg.create_pool(
                        os.environ["BASELINE_DSN"], min_size=min(10, pool_max), max_size=pool_max
                    )
                    if os.environ.get("BASELINE_WRITE_DSN"):
                        self.write_pool = await asyncpg.create_pool(
                            os.environ["BASELINE_WRITE_DSN"], min_size=1, max_size=pool_max
                        )
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for pool in (self.pool, self.write_pool):
                    if pool is not None:
                        await pool.close()
                if self.loaders is not None:
                    await self.loaders.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers or JSON_HEADERS})
        await send({"type": "http.response.body", "body": body})

    async def _route(self, scope: Scope, send: Send) -> None:
        path: str = scope["path"]
        query = {key: values[-1] for key, values in parse_qs(scope["query_string"].decode()).items()}
        parts = [part for part in path.split("/") if part]
        if path == "/health":
            await self._send(send, 200, b'{"status":"ok"}')
        elif path == "/members":
            body, headers = await self.members(query)
            await self._send(send, 200, body, headers)
        elif path == "/members/export.csv":
            await self.export(send)
        elif len(parts) == 2 and parts[0] == "members":
            await self._send(send, 200, await self.member(_uuid(parts[1])))
        elif path == "/dashboard":
            await self._send(send, 200, await self.dashboard(with_sections=True))
        elif path == "/dashboard/counts":
            await self._send(send, 200, await self.dashboard(with_sections=False))
        elif path == "/dashboard/seven":
            await self._send(send, 200, await self.seven_counts())
        elif len(parts) == 3 and parts[0] == "loader":
            await self._send(send, 200, await self.loader(parts[1], _uuid(parts[2])))
        else:
            raise HttpError(404, f"no route {path}")

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.write_pool is None:
            raise HttpError(503, "no BASELINE_WRITE_DSN")
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        parts = [part for part in scope["path"].split("/") if part]
        try:
            status, answer = await baseline_writes.route(
                self.write_pool, scope["method"], parts, headers, b"".join(chunks)
            )
        except baseline_writes.WriteError as exc:
            raise HttpError(exc.status, str(exc)) from None
        await self._send(send, status, _dumps(answer))

    # ----------------------------------------------------------------------------------------------- handlers

    def _pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise HttpError(503, "not started")
        return self.pool

    async def members(self, query: dict[str, str]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        limit = int(query.get("limit", "25"))
        count = query.get("count") == "exact"
        total: int | None = None
        async with self._pool().acquire() as conn:
            if "q" in query:
                needle = query["q"].strip()
                name = f"%{_escape_like(needle)}%"
                digits = "".join(ch for ch in needle if ch.isdigit())
                if digits and needle.replace(" ", "").replace("-", "").lstrip("+").isdigit():
                    rows = await conn.fetch(SEARCH_NAME_OR_PHONE, name, limit, f"%{digits}%")
                    if count:
                        total = await conn.fetchval(SEARCH_COUNT_NAME_OR_PHONE, name, f"%{digits}%")
                else:
                    rows = await conn.fetch(SEARCH_NAME, name, limit)
                    if count:
                        total = await conn.fetchval(SEARCH_COUNT_NAME, name)
            else:
                status, gender = query.get("status", "active"), query.get("gender", "female")
                if "after" in query:
                    created_at, member_id = query["after"].rsplit(",", 1)
                    after = (datetime.fromisoformat(created_at), uuid.UUID(member_id))
                    rows = await conn.fetch(LIST_PAGE_AFTER, status, gender, limit, *after)
                else:
                    rows = await conn.fetch(LIST_PAGE, status, gender, limit)
                if count:
                    total = await conn.fetchval(LIST_COUNT, status, gender)
        headers = list(JSON_HEADERS)
        if total is not None:
            headers.append((b"x-total-count", str(total).encode()))
        return _dumps([dict(row) for row in rows]), headers

    async def member(self, member_id: uuid.UUID) -> bytes:
        async with self._pool().acquire() as conn:
            user = await conn.fetchrow(DETAIL_USER, member_id)
            if user is None:
                raise HttpError(404, f"no member {member_id}")
            profile = await conn.fetchrow(DETAIL_PROFILE, member_id)
            lifestyle = await conn.fetchrow(DETAIL_LIFESTYLE, member_id)
            preference = await conn.fetchrow(DETAIL_PREFERENCE, member_id)
            subscription = await conn.fetchrow(DETAIL_SUBSCRIPTION, member_id)
            photos = await conn.fetch(DETAIL_PHOTOS, member_id)
            documents = await conn.fetch(DETAIL_DOCUMENTS, member_id)
        return _dumps(
            {
                **dict(user),
                "profile": dict(profile) if profile else None,
                "lifestyle": dict(lifestyle) if lifestyle else None,
                "preference": dict(preference) if preference else None,
                "subscription": dict(subscription) if subscription else None,
                "photos": [dict(row) for row in photos],
                "documents": [dict(row) for row in documents],
            }
        )

    async def dashboard(self, *, with_sections: bool) -> bytes:
        pool = self._pool()
        month, week, today = _thresholds()
        if not with_sections:
            counts = await pool.fetchrow(DASHBOARD_COUNTS, month, week, today)
            return _dumps(dict(counts) if counts else {})
        # As the app: the counts on the request's connection, the sections each on a connection of their own.
        since = today - timedelta(days=SIGNUP_DAYS - 1)
        counts, plans, moderation, daily = await asyncio.gather(
            pool.fetchrow(DASHBOARD_COUNTS, month, week, today),
            pool.fetch(DASHBOARD_PLANS),
            pool.fetchrow(DASHBOARD_MODERATION),
            pool.fetch(DASHBOARD_DAILY, since, "UTC"),
        )
        return _dumps(
            {
                **(dict(counts) if counts else {}),
                "subscriptions_by_plan": [{"plan": p, "active": n} for p, n in plans],
                "moderation_queue": list(moderation) if moderation else None,
                "signups_per_day": [{"day": day, "signups": n} for day, n in daily],
            }
        )

    async def seven_counts(self) -> bytes:
        pool = self._pool()
        month, week, today = _thresholds()
        bound = {"month": month, "week": week, "today": today}

        async def one(sql: str, param: str) -> int:
            value = await (pool.fetchval(sql, bound[param]) if param != "none" else pool.fetchval(sql))
            return int(value)

        values = await asyncio.gather(*(one(sql, param) for _name, sql, param in SEVEN_COUNTS))
        return _dumps({name: value for (name, _sql, _param), value in zip(SEVEN_COUNTS, values, strict=True)})

    async def export(self, send: Send) -> None:
        async with self._pool().acquire() as conn, conn.transaction(readonly=True):
            headers = [(b"content-type", b"text/csv; charset=utf-8")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(EXPORT_HEADER)
            rows = 0
            async for record in conn.cursor(EXPORT, prefetch=EXPORT_BATCH):
                writer.writerow(
                    (
                        record[0],
                        record[1],
                        record[2],
                        record[3],
                        record[4],
                        record[5],
                        record[6].isoformat(),
                        record[7].isoformat(),
                    )
                )
                rows += 1
                if rows % EXPORT_BATCH == 0:
                    await send({"type": "http.response.body", "body": buffer.getvalue().encode(), "more_body": True})
                    buffer.seek(0)
                    buffer.truncate()
            await send({"type": "http.response.body", "body": buffer.getvalue().encode(), "more_body": False})

    async def loader(self, way: str, member_id: uuid.UUID) -> bytes:
        if self.loaders is None:
            from bench.loaders import LoaderBench

            self.loaders = LoaderBench.from_environment()
        try:
            return _dumps(await self.loaders.load(way, member_id))
        except KeyError:
            raise HttpError(404, f"no loader way {way!r}") from None


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise HttpError(404, f"not an id: {text!r}") from None


app = Baseline()
