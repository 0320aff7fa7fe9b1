"""Application settings, read from environment variables and an optional `.env` file."""

from __future__ import annotations

import hashlib
import hmac
import zoneinfo
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, IPvAnyNetwork, PostgresDsn, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_JWT_SECRET_BYTES = 32
# Secrets that were ever published in this repository: anyone can sign tokens with them, so no environment takes
# them (the development default of earlier versions).
PUBLISHED_JWT_SECRETS = frozenset({"memberdesk-development-only-secret-do-not-use"})


class MissingSecret(RuntimeError):
    """A setting the caller needs is not set."""


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Every knob of the service; invalid values stop start-up with the setting's name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Environment = Environment.development

    database_url: PostgresDsn = PostgresDsn("postgresql+asyncpg://memberdesk@127.0.0.1:5432/memberdesk")
    database_replica_urls: Annotated[list[PostgresDsn], NoDecode] = Field(default_factory=list)
    database_pool_size: int = Field(default=10, ge=1, le=500)
    # Overflow connections are closed when they come back, so a steady load above the pool opened and closed
    # a connection (a server process, a SCRAM handshake, cold statement caches) for every few requests.
    database_max_overflow: int = Field(default=0, ge=0, le=500)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    database_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    database_statement_timeout_ms: int = Field(default=30_000, ge=0)
    # Behind PgBouncer in transaction mode prepared statements must not be cached.
    database_pgbouncer: bool = False

    # Replicas past either bound, or not answering a probe within the timeout, are skipped.
    replica_max_lag_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    replica_max_lag_seconds: float = Field(default=30.0, gt=0)
    replica_check_interval_seconds: float = Field(default=1.0, gt=0)
    replica_probe_timeout_seconds: float = Field(default=1.0, gt=0)
    # How long a client's write position is kept (cookie lifetime) for read-your-writes.
    read_your_writes_seconds: int = Field(default=300, ge=1)
    # Adds X-Memberdesk-Read-From (which server answered) and X-Memberdesk-Worker (which process) to answers.
    debug_headers: bool = False
    # /metrics needs a viewer's token or an API key, except from these networks (a scraper's), or for everyone
    # when METRICS_PUBLIC. The address is the one uvicorn reports: behind a proxy, from X-Forwarded-For.
    metrics_public: bool = False
    metrics_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)

    # How a member's detail is loaded: one statement, queries in sequence on one connection, or in parallel on one
    # connection each (for high-latency links); docs/decisions.md: "A member's detail in one statement".
    member_loader: Literal["joined", "sequential", "parallel"] = "joined"

    # JSON lines for log collectors, or readable lines for a terminal; `none` leaves logging as it is (tests).
    log_format: Literal["json", "console", "none"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    s3_endpoint_url: str | None = None
    s3_bucket: str = "memberdesk"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    presign_ttl_seconds: int = Field(default=900, ge=1, le=604_800)
    # Documents (identity papers among them) are served by URLs this short-lived, as attachments.
    document_url_ttl_seconds: int = Field(default=60, ge=1, le=604_800)

    admin_timezone: str = "UTC"

    # Signs operators' access tokens. No default: `memberdesk dev` generates one per data directory; the API
    # refuses to start without one, and commands that sign nothing (migrate, seed ...) run without it in development.
    jwt_secret: SecretStr | None = None
    jwt_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    # Console sessions (POST /auth/refresh): a refresh token unused this long ends the session, and no session
    # outlives the max age from its login however often it is refreshed. The cookie is Secure outside development
    # unless REFRESH_COOKIE_SECURE says otherwise.
    refresh_ttl_seconds: int = Field(default=43_200, ge=60, le=31_536_000)
    refresh_max_age_seconds: int = Field(default=604_800, ge=60, le=31_536_000)
    refresh_cookie_secure: bool | None = None
    # The operator console's built files (`npm run build` in console/), served at /console; unset, console/dist of
    # the checkout this code runs from. A wheel install sets it to where the built files were copied.
    console_dir: Path | None = None
    # Signs list cursors (HMAC-SHA256), so that a client cannot make one up; unset, a key derived from JWT_SECRET.
    cursor_secret: SecretStr | None = None
    # Keys the hashes of banned members' phones (phone_blocks). Changing it unblocks every phone, so it is a secret of
    # its own outside development, where it must be set: derived from JWT_SECRET, rotating that one (as after a leak)
    # would have lifted every block unnoticed. Development derives it from JWT_SECRET when unset.
    phone_block_secret: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # How long a confirmed operator or key is trusted without asking the primary again (0: ask every time).
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    # The login throttle (see LoginService): failures per email, failures per client address (wide, for offices
    # behind one address), within the window; and password checks in flight per client address, per process.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    login_checks_per_client: int = Field(default=2, ge=1, le=100)

    # Side effects: notifications go as HMAC-signed POSTs to WEBHOOK_URL (logged only when unset).
    webhook_url: HttpUrl | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    outbox_backoff_base_seconds: float = Field(default=2.0, gt=0)
    outbox_sweep_interval_seconds: float = Field(default=5.0, gt=0)
    outbox_batch_size: int = Field(default=200, ge=1, le=1000)

    # `memberdesk serve --workers N`: a worker whose event loop is silent this long is killed and started again.
    worker_timeout_seconds: float = Field(default=30.0, ge=2)
    # `memberdesk serve`: a request's line and headers may take this many bytes (431 past it) and must arrive within
    # this many seconds of its first byte (or of the connection's opening); its body within that many of its head
    # (408 past either, and the connection closed). An idle kept-alive connection is closed after the keep-alive.
    http_max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=300)

    photo_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    photo_upload_ttl_seconds: int = Field(default=600, ge=10, le=86_400)
    document_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    document_upload_ttl_seconds: int = Field(default=600, ge=10, le=86_400)

    # How long an item taken with POST /reviews/next stays its taker's; then it goes back to its queue.
    review_claim_seconds: int = Field(default=300, ge=1, le=86_400)

    # Housekeeping, run by every API process about every HOUSEKEEPING_INTERVAL_SECONDS (0 turns it off): delivered
    # outbox events and Idempotency-Key records past their keeping time are deleted, and photo uploads left
    # uncompleted PHOTO_UPLOAD_GRACE_SECONDS after their form expired are removed with their objects.
    housekeeping_interval_seconds: float = Field(default=600.0, ge=0)
    outbox_keep_delivered_days: float = Field(default=7.0, gt=0)
    idempotency_key_hours: float = Field(default=24.0, gt=0)
    photo_upload_grace_seconds: int = Field(default=86_400, ge=0)
    # Retention: housekeeping erases members soft-deleted more than this many days ago (0 turns it off).
    erase_deleted_after_days: float = Field(default=30.0, ge=0)

    @field_validator("database_replica_urls", "cors_origins", "metrics_allowed_networks", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url", "database_replica_urls", mode="after")
    @classmethod
    def _asyncpg_driver(cls, value: PostgresDsn | list[PostgresDsn]) -> PostgresDsn | list[PostgresDsn]:
        urls = value if isinstance(value, list) else [value]
        for url in urls:
            if url.scheme != "postgresql+asyncpg":
                raise ValueError(f"must use the postgresql+asyncpg:// scheme, got {url.scheme}://")
        return value

    @field_validator("admin_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _real_jwt_secret(self) -> Settings:
        if self.jwt_secret is None:
            if self.environment is not Environment.development:
                raise ValueError("JWT_SECRET must be set outside development")
            return self
        secret = self.jwt_secret.get_secret_value()
        if secret in PUBLISHED_JWT_SECRETS:
            raise ValueError("JWT_SECRET is a value published in the source code (the old development default)")
        if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        if (
            self.cursor_secret is not None
            and len(self.cursor_secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES
        ):
            raise ValueError(f"CURSOR_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        if (
            self.phone_block_secret is not None
            and len(self.phone_block_secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES
        ):
            raise ValueError(f"PHONE_BLOCK_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        return self

    @model_validator(mode="after")
    def _own_phone_block_secret(self) -> Settings:
        if self.phone_block_secret is None and self.environment is not Environment.development:
            raise ValueError(
                "PHONE_BLOCK_SECRET must be set outside development: it keys the hashes of banned phones, and a key"
                " derived from JWT_SECRET would change with it and lift every block (32 or more random bytes; keep it)"
            )
        return self

    @model_validator(mode="after")
    def _signed_webhooks_in_production(self) -> Settings:
        # Unsigned, a receiver cannot tell our notifications from anyone's POST; development only warns.
        if self.environment is Environment.production and self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET must be set with WEBHOOK_URL in production (webhooks are signed with it)")
        return self

    @model_validator(mode="after")
    def _s3_credentials_together(self) -> Settings:
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together")
        return self

    @property
    def console_path(self) -> Path:
        """Where the console's built files are (they may be missing: the API then says how to build them)."""
        return self.console_dir or Path(__file__).resolve().parents[2] / "console" / "dist"

    @property
    def secure_cookies(self) -> bool:
        """Whether the refresh cookie carries Secure (HTTPS only): everywhere but development, unless set."""
        if self.refresh_cookie_secure is not None:
            return self.refresh_cookie_secure
        return self.environment != Environment.development

    def token_secret(self) -> str:
        """The secret that signs and checks access tokens; an error when JWT_SECRET is not set."""
        if self.jwt_secret is None:
            raise MissingSecret(
                "JWT_SECRET is not set: the API cannot sign or check access tokens without it "
                "(`memberdesk dev` writes one to .devdata/env; use 32 or more random bytes elsewhere)"
            )
        return self.jwt_secret.get_secret_value()

    @cached_property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.admin_timezone)

    @cached_property
    def cursor_key(self) -> bytes:
        """The key list cursors are signed with: CURSOR_SECRET, or one derived from JWT_SECRET."""
        if self.cursor_secret is not None:
            return self.cursor_secret.get_secret_value().encode()
        return derived_key(self.token_secret(), "list cursors")

    def phone_block_key(self) -> bytes:
        """The key blocked phones are hashed with: PHONE_BLOCK_SECRET, or in development one derived from JWT_SECRET."""
        if self.phone_block_secret is not None:
            return self.phone_block_secret.get_secret_value().encode()
        return derived_key(self.token_secret(), "phone blocks")


@lru_cache(maxsize=64)
def derived_key(secret: str, purpose: str) -> bytes:
    """A key for `purpose` from `secret` (HMAC-SHA256), so that one secret serves several uses independently.
    Kept once computed: the member writers ask for the phone-block key on every request."""
    return hmac.new(secret.encode(), f"memberdesk {purpose}".encode(), hashlib.sha256).digest()
