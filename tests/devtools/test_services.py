"""The embedded dev/test services: a streaming replica, an S3 server that checks signatures, reuse, clean stop."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import pytest
from botocore.config import Config

from backend.infrastructure.settings import MIN_JWT_SECRET_BYTES, Settings
from devtools.services import DevServices, Ports, ServiceUrls


def _fetchval(url: str, query: str, *args: object) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=5)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def _execute(url: str, *statements: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _wait_for_value(url: str, query: str, expected: object, timeout: float = 10.0) -> None:
    """Poll the replica until `query` gives `expected` (the table itself may not have been replayed yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = _fetchval(url, query)
        except asyncpg.UndefinedTableError as exc:
            value = exc
        if value == expected:
            return
        assert time.monotonic() < deadline, f"{query!r} gave {value!r}, not {expected!r}, after {timeout} s"
        time.sleep(0.02)


def _s3(urls: ServiceUrls) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=urls.s3_endpoint_url,
        region_name=urls.s3_region,
        aws_access_key_id=urls.s3_access_key_id,
        aws_secret_access_key=urls.s3_secret_access_key,
        config=Config(signature_version="s3v4"),
    )


def _http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http URLs built here)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _processes_under(root: Path) -> list[tuple[int, str]]:
    """Processes whose command line names the root (postmasters via -D, weed via -dir)."""
    needle = str(root).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append((int(proc.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def _running(pid: int) -> bool:
    """Whether `pid` runs; zombies count as gone (init may reap them a second or two later)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _postmaster_pids(root: Path) -> list[int]:
    pids = []
    for pid_file in root.glob("pg/*/postmaster.pid"):
        pids.append(int(pid_file.read_text().splitlines()[0]))
    return pids


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("devservices")


@pytest.fixture(scope="module")
def module_services(root: Path) -> Iterator[DevServices]:
    devservices = DevServices(root, Ports.free(), fast=True)
    devservices.start()
    yield devservices
    devservices.stop()


@pytest.fixture
def urls(module_services: DevServices) -> ServiceUrls:
    return module_services.start()  # already started: returns the same URLs


def test_env_names_the_settings(urls: ServiceUrls) -> None:
    env = urls.as_env()

    assert env["DATABASE_URL"] == urls.database_url
    assert env["DATABASE_REPLICA_URLS"] == ",".join(urls.replica_urls)
    assert urls.database_url.startswith("postgresql+asyncpg://memberdesk:")
    assert env["S3_BUCKET"] == "memberdesk"
    assert set(env) == {
        "JWT_SECRET",
        "PHONE_BLOCK_SECRET",
        "DATABASE_URL",
        "DATABASE_REPLICA_URLS",
        "S3_ENDPOINT_URL",
        "S3_BUCKET",
        "S3_REGION",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
    }


def test_each_data_root_has_random_secrets_that_settings_accept(urls: ServiceUrls, services: ServiceUrls) -> None:
    assert urls.jwt_secret != services.jwt_secret  # this module's root and the test session's
    assert urls.phone_block_secret != services.phone_block_secret
    assert urls.phone_block_secret != urls.jwt_secret
    assert len(urls.jwt_secret.encode()) >= MIN_JWT_SECRET_BYTES
    environment = {"JWT_SECRET": urls.jwt_secret, "PHONE_BLOCK_SECRET": urls.phone_block_secret}
    assert urls.as_env().items() >= environment.items()
    settings = Settings(
        _env_file=None, environment="production", jwt_secret=urls.jwt_secret, phone_block_secret=urls.phone_block_secret
    )
    assert settings.token_secret() == urls.jwt_secret
    assert settings.phone_block_key() == urls.phone_block_secret.encode()


def test_a_root_made_before_its_secrets_gets_them_kept_from_then_on(tmp_path: Path) -> None:
    older = {
        "version": 1,
        "postgres_password": "p" * 48,
        "replicator_password": "r" * 48,
        "app_password": "a" * 48,
        "s3_access_key_id": "MDOLDKEY",
        "s3_secret_access_key": "s" * 40,
        "primary_ready": True,
        "replica_ready": True,
    }
    (tmp_path / "devservices.json").write_text(json.dumps(older))
    made = DevServices(tmp_path, Ports.free())._load_state()
    assert len(made.jwt_secret.encode()) >= MIN_JWT_SECRET_BYTES
    assert len(made.phone_block_secret.encode()) >= MIN_JWT_SECRET_BYTES
    kept = json.loads((tmp_path / "devservices.json").read_text())
    assert (kept["jwt_secret"], kept["phone_block_secret"]) == (made.jwt_secret, made.phone_block_secret)
    again = DevServices(tmp_path, Ports.free())._load_state()
    assert (again.jwt_secret, again.phone_block_secret) == (made.jwt_secret, made.phone_block_secret)


def test_replica_is_in_recovery_and_primary_is_not(urls: ServiceUrls) -> None:
    assert _fetchval(urls.superuser_replica_urls[0], "SELECT pg_is_in_recovery()") is True
    assert _fetchval(urls.superuser_database_url, "SELECT pg_is_in_recovery()") is False


def test_app_role_is_not_superuser_but_owns_the_database(urls: ServiceUrls) -> None:
    assert _fetchval(urls.database_url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
    owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
    assert _fetchval(urls.database_url, owner) == "memberdesk"
    # pg_trgm is a trusted extension in PostgreSQL 15: the owner can create it in a migration.
    _execute(urls.database_url, "BEGIN", "CREATE EXTENSION pg_trgm", "ROLLBACK")


def test_row_written_on_primary_appears_on_replica(urls: ServiceUrls) -> None:
    _execute(
        urls.database_url,
        "CREATE TABLE replication_probe (id int PRIMARY KEY, note text)",
        "INSERT INTO replication_probe VALUES (1, 'hello')",
    )

    _wait_for_value(urls.replica_urls[0], "SELECT note FROM replication_probe WHERE id = 1", "hello")


def test_presigned_get_works_and_anonymous_get_is_denied(urls: ServiceUrls) -> None:
    s3 = _s3(urls)
    s3.put_object(Bucket=urls.s3_bucket, Key="photos/probe.txt", Body=b"probe bytes")
    signed = s3.generate_presigned_url(
        "get_object", Params={"Bucket": urls.s3_bucket, "Key": "photos/probe.txt"}, ExpiresIn=60
    )

    assert _http_get(signed) == (200, b"probe bytes")
    assert _http_get(f"{urls.s3_endpoint_url}/{urls.s3_bucket}/photos/probe.txt")[0] == 403
    assert _http_get(signed.replace("Signature=", "Signature=0"))[0] == 403


def test_second_instance_on_the_same_root_is_refused(module_services: DevServices, root: Path) -> None:
    with pytest.raises(RuntimeError, match="in use"):
        DevServices(root, Ports.free()).start()


def test_replica_and_primary_can_be_stopped_and_started(module_services: DevServices, urls: ServiceUrls) -> None:
    module_services.stop_replica()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        _fetchval(urls.replica_urls[0], "SELECT 1")
    module_services.start_replica()
    assert _fetchval(urls.replica_urls[0], "SELECT pg_is_in_recovery()") is True

    module_services.stop_primary()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        _fetchval(urls.database_url, "SELECT 1")
    assert _fetchval(urls.replica_urls[0], "SELECT 1") == 1  # the replica still serves reads
    module_services.start_primary()
    _execute(urls.database_url, "CREATE TABLE after_failover (id int)", "INSERT INTO after_failover VALUES (7)")
    _wait_for_value(urls.replica_urls[0], "SELECT max(id) FROM after_failover", 7)


def test_a_restart_works_after_the_root_lost_the_search_bit_it_was_given(
    module_services: DevServices, urls: ServiceUrls, root: Path
) -> None:
    # pytest sets /tmp/pytest-of-<user> back to 0700 whenever another test session on the machine starts: as
    # root, the postgres user then could not reach the log file that pg_ctl starts the server with.
    module_services.stop_replica()
    mode = root.parent.stat().st_mode & 0o7777
    root.parent.chmod(mode & ~0o001)  # o-x
    try:
        module_services.start_replica()
    finally:
        root.parent.chmod(mode)
    assert _fetchval(urls.replica_urls[0], "SELECT pg_is_in_recovery()") is True


def test_restart_reuses_data_and_stop_leaves_no_process(module_services: DevServices, root: Path) -> None:
    urls = module_services.start()
    _execute(urls.database_url, "CREATE TABLE survives_restart (id int)", "INSERT INTO survives_restart VALUES (42)")
    _s3(urls).put_object(Bucket=urls.s3_bucket, Key="survives.txt", Body=b"still here")
    postmasters = _postmaster_pids(root)
    assert len(postmasters) == 2

    module_services.stop()

    assert _processes_under(root) == []
    assert not [pid for pid in postmasters if _running(pid)]

    # Another instance on other ports: no initdb or base backup again, same secrets, same data.
    with DevServices(root, Ports.free(), fast=True) as again:
        reused = again.start()
        assert (reused.s3_access_key_id, reused.s3_secret_access_key) == (
            urls.s3_access_key_id,
            urls.s3_secret_access_key,
        )
        assert reused.database_url.split("@")[0] == urls.database_url.split("@")[0]
        assert reused.jwt_secret == urls.jwt_secret
        assert _fetchval(reused.database_url, "SELECT id FROM survives_restart") == 42
        assert _fetchval(reused.replica_urls[0], "SELECT pg_is_in_recovery()") is True
        _execute(reused.database_url, "INSERT INTO survives_restart VALUES (43)")
        _wait_for_value(reused.replica_urls[0], "SELECT max(id) FROM survives_restart", 43)
        body = _s3(reused).get_object(Bucket=reused.s3_bucket, Key="survives.txt")["Body"].read()
        assert body == b"still here"
    commands = [line for line in (root / "logs" / "primary.log").read_text().splitlines() if line.startswith("$ ")]
    assert sum("/initdb " in line for line in commands) == 1
    commands = [line for line in (root / "logs" / "replica.log").read_text().splitlines() if line.startswith("$ ")]
    assert sum("/pg_basebackup " in line for line in commands) == 1

    assert _processes_under(root) == []
