"""Settings: environment variables parsed and checked; invalid ones stop start-up by name."""

from __future__ import annotations

import pytest

from backend.cli import load_settings
from backend.infrastructure.settings import Settings


def test_replica_urls_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_REPLICA_URLS", "postgresql+asyncpg://a@h1:5432/db, postgresql+asyncpg://a@h2:5432/db")
    settings = Settings(_env_file=None)
    assert [url.hosts()[0]["host"] for url in settings.database_replica_urls] == ["h1", "h2"]


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
