"""S3 access: one aiobotocore client for the app's life, presigned GET URLs signed in-process, upload forms.

Presigned GET URLs are signed here, not by botocore (docs/decisions.md: "Presigning in-process"): with static
credentials the same AWS Signature V4 query string, a SHA-256 and an HMAC per URL with the signing key cached per
day, checked against botocore's output in the tests.
Upload forms (presigned POST) are rare and carry a policy, so they go through botocore.

An upload form writes an upload key only; what is served is a server-side copy to another key, made once the
file has been checked (`copy`, then `read_head` on the copy), with the checked Content-Type and no other
metadata. S3 itself cannot send `X-Content-Type-Options: nosniff` (no object metadata or presigned-URL override
produces it, on AWS or on SeaweedFS): a deployment adds it in front of the bucket (see the README).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backend.infrastructure.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_ALGORITHM = "AWS4-HMAC-SHA256"
# Keys made only of these characters need no percent-encoding (the seeded and uploaded ones all are).
_PLAIN_KEY = re.compile(r"[A-Za-z0-9/._~-]+")


_ATTACHMENT = "response-content-disposition=attachment"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


@dataclass
class SigV4Presigner:
    """Presigned GET URLs for path-style S3 addressing, with static or temporary (session token) credentials."""

    endpoint_url: str
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.netloc
        self._path_prefix = parts.path.rstrip("/")
        self._key_day = ""
        self._signing_key = b""
        self._second: tuple[int, int] = (-1, -1)
        self._cached = ("", "", "")

    def _key_for(self, day: str) -> bytes:
        if day != self._key_day:
            key = _hmac(f"AWS4{self.secret_access_key}".encode(), day)
            for part in (self.region, "s3", "aws4_request"):
                key = _hmac(key, part)
            self._key_day, self._signing_key = day, key
        return self._signing_key

    def _moment(self, now: datetime | None, expires_in: int) -> tuple[str, str, str]:
        """The request time, its string to sign's prefix and the query string: the same for a whole second."""
        second = int(now.timestamp()) if now is not None else int(time.time())
        if (second, expires_in) != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
            day = amz_date[:8]
            # The canonical query is sorted by name: X-Amz-Security-Token comes before X-Amz-SignedHeaders.
            token = "" if self.session_token is None else f"&X-Amz-Security-Token={quote(self.session_token, safe='~')}"
            query = (
                f"X-Amz-Algorithm={_ALGORITHM}"
                f"&X-Amz-Credential={quote(self.access_key_id, safe='~')}%2F{day}%2F{self.region}%2Fs3%2Faws4_request"
                f"&X-Amz-Date={amz_date}&X-Amz-Expires={expires_in}{token}&X-Amz-SignedHeaders=host"
            )
            prefix = f"{_ALGORITHM}\n{amz_date}\n{day}/{self.region}/s3/aws4_request\n"
            self._second = (second, expires_in)
            self._cached = (day, prefix, query)
        return self._cached

    def presign_get(self, key: str, expires_in: int, now: datetime | None = None, *, attachment: bool = False) -> str:
        """A URL that GETs `key` for `expires_in` seconds from `now` (second precision, as SigV4 has it); with
        `attachment`, S3 answers it with `Content-Disposition: attachment` (a signed `response-content-disposition`,
        which sorts after the X-Amz-* parameters in the canonical query)."""
        day, prefix, query = self._moment(now, expires_in)
        if attachment:
            query += f"&{_ATTACHMENT}"
        encoded = key if _PLAIN_KEY.fullmatch(key) else quote(key, safe="/~")
        path = f"{self._path_prefix}/{self.bucket}/{encoded}"
        canonical = f"GET\n{path}\n{query}\nhost:{self._host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = prefix + hashlib.sha256(canonical.encode()).hexdigest()
        signature = hmac.digest(self._key_for(day), to_sign.encode(), "sha256").hex()
        return f"{self._origin}{path}?{query}&X-Amz-Signature={signature}"


STREAM_CHUNK_BYTES = 64 * 1024


async def _chunks(key: str, body: Any, chunk_bytes: int) -> AsyncIterator[bytes]:
    try:
        async for chunk in body.iter_chunks(chunk_bytes):
            yield chunk
    except (ClientError, BotoCoreError, OSError) as exc:
        raise _failure("GET", key, exc) from exc
    finally:
        body.close()


class StorageError(Exception):
    """S3 could not answer (unreachable, or an error other than a missing object)."""


@dataclass(frozen=True)
class PresignedPost:
    """An HTML form upload: POST `fields` and then the file (last) as multipart/form-data to `url`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class ObjectHead:
    """The first bytes of a stored object (fewer when it is shorter) and its whole size."""

    data: bytes
    size: int


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD tells about a stored object."""

    size: int
    content_type: str | None
    etag: str | None


_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_CONTENT_RANGE = re.compile(r"bytes \d+-\d+/(\d+)")


def _missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in _MISSING_CODES or status == 404


def _failure(operation: str, key: str, exc: Exception) -> StorageError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return StorageError(f"{operation} {key}: {error.get('Code') or status}")
    return StorageError(f"{operation} {key}: {type(exc).__name__}")


def client_config() -> Config:
    """SigV4 always (botocore may default to SigV2), short timeouts so a dead S3 fails fast."""
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 2, "mode": "standard"},
    )


PRESIGNED_URLS_KEPT = 100_000
"""URLs kept for reuse within one signing window (about 30 MB at most)."""


class Storage:
    """The bucket of member photos and documents."""

    def __init__(self, client: S3Client, settings: Settings) -> None:
        self.client = client
        self.bucket = settings.s3_bucket
        self.ttl_seconds = settings.presign_ttl_seconds
        self.document_ttl_seconds = settings.document_url_ttl_seconds
        self.upload_ttl_seconds = settings.photo_upload_ttl_seconds
        self._presigner: SigV4Presigner | None = None
        self._window = max(1, min(60, self.ttl_seconds // 10))
        self._urls_second = 0
        self._urls: dict[str, str] = {}
        if settings.s3_access_key_id and settings.s3_secret_access_key and settings.s3_endpoint_url:
            self._presigner = SigV4Presigner(
                endpoint_url=settings.s3_endpoint_url,
                bucket=settings.s3_bucket,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
            )

    async def presign_get(self, key: str) -> str:
        """A presigned GET URL for `key`, valid for at least 90% of the configured TTL.

        URLs are signed as of the start of a window of a tenth of the TTL (a minute at most), and kept for
        that window: a page asked again within it costs a dictionary lookup per URL, and the browser sees the
        same URL and can serve the image from its cache.
        """
        return (await self.presign_many([key]))[0]

    async def presign_many(self, keys: list[str]) -> list[str]:
        """Presigned GET URLs for several keys, in order (see `presign_get`)."""
        if self._presigner is None:
            return [
                await self.client.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.ttl_seconds
                )
                for key in keys
            ]
        second = int(time.time())
        second -= second % self._window
        if second != self._urls_second or len(self._urls) + len(keys) > PRESIGNED_URLS_KEPT:
            self._urls_second, self._urls = second, {}
        urls = self._urls
        signed_at: datetime | None = None
        found = []
        for key in keys:
            url = urls.get(key)
            if url is None:
                signed_at = signed_at or datetime.fromtimestamp(second, UTC)
                url = urls[key] = self._presigner.presign_get(key, self.ttl_seconds, signed_at)
            found.append(url)
        return found

    async def presign_documents(self, keys: list[str]) -> list[str]:
        """Presigned GET URLs for documents: `DOCUMENT_URL_TTL_SECONDS` long, served as attachments, signed anew
        each time (never reused from the photos' window)."""
        if self._presigner is None:
            return [
                await self.client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": "attachment"},
                    ExpiresIn=self.document_ttl_seconds,
                )
                for key in keys
            ]
        now = datetime.now(UTC)
        return [self._presigner.presign_get(key, self.document_ttl_seconds, now, attachment=True) for key in keys]

    async def presign_post(
        self, key: str, content_type: str, max_bytes: int, *, expires_in: int | None = None
    ) -> PresignedPost:
        """A form that uploads exactly `key`, with exactly `content_type`, of 1..`max_bytes` bytes.

        S3 checks the signed policy: another key or Content-Type is refused (403), a body outside
        content-length-range too (400 EntityTooLarge / EntityTooSmall). `expires_in` defaults to
        PHOTO_UPLOAD_TTL_SECONDS.
        """
        ttl = self.upload_ttl_seconds if expires_in is None else expires_in
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl)
        form = await self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=ttl,
        )
        return PresignedPost(
            url=str(form["url"]), fields={str(k): str(v) for k, v in form["fields"].items()}, expires_at=expires_at
        )

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's size and type, or None when there is no object at `key`; StorageError if S3 fails."""
        try:
            answer = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise _failure("HEAD", key, exc) from exc
        except BotoCoreError as exc:
            raise _failure("HEAD", key, exc) from exc
        return ObjectInfo(
            size=int(answer["ContentLength"]), content_type=answer.get("ContentType"), etag=answer.get("ETag")
        )

    async def read_head(self, key: str, length: int) -> ObjectHead | None:
        """The first `length` bytes of the object at `key` (a ranged GET) and its size; None when there is none."""
        try:
            answer = await self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}")
            body = answer["Body"]
            try:  # at most `length` bytes, even from a server that would ignore Range
                data = await body.read(length)
            finally:
                body.close()
        except ClientError as exc:
            if _missing(exc):
                return None
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":  # an empty object has no byte 0
                return ObjectHead(data=b"", size=0)
            raise _failure("GET", key, exc) from exc
        except BotoCoreError as exc:
            raise _failure("GET", key, exc) from exc
        whole = _CONTENT_RANGE.fullmatch(answer.get("ContentRange") or "")
        return ObjectHead(data=data, size=int(whole.group(1)) if whole else int(answer["ContentLength"]))

    async def stream(self, key: str, chunk_bytes: int = STREAM_CHUNK_BYTES) -> AsyncIterator[bytes] | None:
        """The object at `key` chunk by chunk as S3 sends it (never read whole); None when there is none.

        The GET is made here, so a missing object or a failing S3 is known before the first chunk; a failure
        while reading raises StorageError from the iteration."""
        try:
            answer = await self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise _failure("GET", key, exc) from exc
        except BotoCoreError as exc:
            raise _failure("GET", key, exc) from exc
        return _chunks(key, answer["Body"], chunk_bytes)

    async def copy(self, source: str, target: str, *, content_type: str) -> bool:
        """Copy `source` to `target` inside the bucket, stored as `content_type` and with no other metadata.

        MetadataDirective REPLACE: nothing the uploader stored with `source` (Content-Disposition, Cache-Control,
        Expires, Content-Language, x-amz-meta-*) reaches `target`. False when there is no `source`.
        """
        try:
            await self.client.copy_object(
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": source},
                MetadataDirective="REPLACE",
                ContentType=content_type,
            )
        except ClientError as exc:
            if _missing(exc):
                return False
            raise _failure("COPY", f"{source} -> {target}", exc) from exc
        except BotoCoreError as exc:
            raise _failure("COPY", f"{source} -> {target}", exc) from exc
        return True

    async def check(self) -> None:
        """Raise if the bucket cannot be reached."""
        await self.client.head_bucket(Bucket=self.bucket)


@asynccontextmanager
async def s3_client(settings: Settings) -> AsyncIterator[S3Client]:
    """The one S3 client of the app's life (each client owns a connection pool)."""
    kwargs: dict[str, Any] = {
        "region_name": settings.s3_region,
        "endpoint_url": settings.s3_endpoint_url,
        "config": client_config(),
    }
    if settings.s3_access_key_id:
        kwargs["aws_access_key_id"] = settings.s3_access_key_id
        kwargs["aws_secret_access_key"] = settings.s3_secret_access_key
    async with aioboto3.Session().client("s3", **kwargs) as client:
        yield client
