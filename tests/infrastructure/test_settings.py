"""Settings: environment variables parsed and checked; invalid ones stop start-up by name."""

from __future__ import annotations

import pytest

from backend.cli import load_settings
from backend.infrastructure.settings import MissingSecret, Settings
from backend.main import create_app

# The development default of earlier versions, published in this repository's history.
OLD_DEVELOPMENT_SECRET = "memberdesk-development-only-secret-do-not-use"


def test_replica_urls_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_REPLICA_URLS", "postgresql+asyncpg://a@h1:5432/db, postgresql+asyncpg://a@h2:5432/db")
    settings = Settings(_env_file=None)
    assert [url.hosts()[0]["host"] for url in settings.database_replica_urls] == ["h1", "h2"]


def test_metrics_networks_are_comma_separated_and_closed_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).metrics_public is False
    assert Settings(_env_file=None).metrics_allowed_networks == []
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8, fd00::/8,192.0.2.7")
    assert [str(n) for n in Settings(_env_file=None).metrics_allowed_networks] == [
        "10.0.0.0/8",
        "fd00::/8",
        "192.0.2.7/32",
    ]


def test_empty_replica_urls_mean_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_REPLICA_URLS", "")
    assert Settings(_env_file=None).database_replica_urls == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "postgresql://user@host/db"),
        ("DATABASE_REPLICA_URLS", "mysql://x@y/z"),
        ("ADMIN_TIMEZONE", "Mars/Olympus"),
        ("PRESIGN_TTL_SECONDS", "0"),
        ("DATABASE_POOL_SIZE", "many"),
        ("ENVIRONMENT", "staging-ish"),
        ("METRICS_ALLOWED_NETWORKS", "10.0.0.1/8"),
        ("METRICS_ALLOWED_NETWORKS", "everyone"),
    ],
)
def test_an_invalid_setting_stops_start_up_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert name in str(stopped.value)


def test_s3_keys_go_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_ACCESS_KEY_ID", "only-one")
    monkeypatch.delenv("S3_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(SystemExit, match="S3_SECRET_ACCESS_KEY"):
        load_settings()


@pytest.mark.parametrize(
    ("secret", "reason"),
    [(None, "must be set"), ("short-secret", "at least 32 bytes"), (OLD_DEVELOPMENT_SECRET, "published")],
)
def test_outside_development_a_real_jwt_secret_is_required(
    monkeypatch: pytest.MonkeyPatch, secret: str | None, reason: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    if secret is None:
        monkeypatch.delenv("JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("JWT_SECRET", secret)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert "JWT_SECRET" in str(stopped.value)
    assert reason in str(stopped.value)


def test_there_is_no_default_secret_and_the_app_refuses_to_start_without_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    settings = Settings(_env_file=None, environment="development")
    assert settings.jwt_secret is None  # commands that sign nothing (migrate, seed) still run
    with pytest.raises(MissingSecret, match="JWT_SECRET"):
        create_app(settings)


@pytest.mark.parametrize("environment", ["development", "test", "production"])
@pytest.mark.parametrize(
    ("secret", "reason"), [("short-secret", "at least 32 bytes"), (OLD_DEVELOPMENT_SECRET, "published")]
)
def test_a_short_or_published_secret_is_refused_in_every_environment(
    monkeypatch: pytest.MonkeyPatch, environment: str, secret: str, reason: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("JWT_SECRET", secret)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert "JWT_SECRET" in str(stopped.value)
    assert reason in str(stopped.value)


def test_production_starts_with_a_long_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "s" * 32)
    monkeypatch.setenv("PHONE_BLOCK_SECRET", "p" * 32)
    assert load_settings().token_secret() == "s" * 32


def test_production_refuses_unsigned_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "s" * 32)
    monkeypatch.setenv("PHONE_BLOCK_SECRET", "p" * 32)
    monkeypatch.setenv("WEBHOOK_URL", "https://hooks.example/memberdesk")
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    with pytest.raises(SystemExit, match="WEBHOOK_SECRET"):
        load_settings()
    monkeypatch.setenv("WEBHOOK_SECRET", "w" * 32)
    assert load_settings().webhook_url is not None


def test_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example"]


class TestCursorKey:
    def test_is_derived_from_the_jwt_secret_when_not_set(self) -> None:
        one = Settings(_env_file=None, jwt_secret="a" * 40)
        assert one.cursor_key == Settings(_env_file=None, jwt_secret="a" * 40).cursor_key  # every process agrees
        assert one.cursor_key != Settings(_env_file=None, jwt_secret="b" * 40).cursor_key
        assert one.cursor_key != b"a" * 40  # a key of its own, not the token secret itself

    def test_cursor_secret_wins(self) -> None:
        assert Settings(_env_file=None, cursor_secret="c" * 40).cursor_key == b"c" * 40

    def test_a_short_cursor_secret_stops_start_up_outside_development(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ENVIRONMENT", "production")
        monkeypatch.setenv("JWT_SECRET", "j" * 40)
        monkeypatch.setenv("CURSOR_SECRET", "short")
        with pytest.raises(SystemExit, match="CURSOR_SECRET"):
            load_settings()


class TestPhoneBlockKey:
    @pytest.mark.parametrize("environment", ["test", "production"])
    def test_outside_development_it_must_be_set(self, monkeypatch: pytest.MonkeyPatch, environment: str) -> None:
        monkeypatch.setenv("ENVIRONMENT", environment)
        monkeypatch.setenv("JWT_SECRET", "j" * 40)
        monkeypatch.delenv("PHONE_BLOCK_SECRET", raising=False)
        with pytest.raises(SystemExit, match="PHONE_BLOCK_SECRET must be set outside development"):
            load_settings()
        monkeypatch.setenv("PHONE_BLOCK_SECRET", "short")
        with pytest.raises(SystemExit, match="PHONE_BLOCK_SECRET must be at least 32 bytes"):
            load_settings()
        monkeypatch.setenv("PHONE_BLOCK_SECRET", "p" * 40)
        assert load_settings().phone_block_key() == b"p" * 40

    def test_a_set_one_stays_when_the_jwt_secret_is_rotated(self) -> None:
        before = Settings(_env_file=None, environment="production", jwt_secret="a" * 40, phone_block_secret="p" * 40)
        after = Settings(_env_file=None, environment="production", jwt_secret="b" * 40, phone_block_secret="p" * 40)
        assert before.phone_block_key() == after.phone_block_key() == b"p" * 40

    def test_development_derives_one_of_its_own_from_the_jwt_secret(self) -> None:
        one = Settings(_env_file=None, environment="development", jwt_secret="a" * 40)
        assert one.phone_block_key() == Settings(_env_file=None, jwt_secret="a" * 40).phone_block_key()
        assert one.phone_block_key() not in {b"a" * 40, one.cursor_key}
