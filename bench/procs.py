"""Child processes of the run: started in their own session, stopped by process group, memory read from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

import asyncpg
import httpx

from devtools.services import ServiceUrls


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(urls: ServiceUrls, environment: str, *, own_prefix: str) -> dict[str, str]:
    """This process's environment for an app process or a command of the run: the caller's own database, S3, JWT,
    phone-block and webhook settings and its `own_prefix` knobs left out, the run's services in, dates in UTC."""
    dropped = ("DATABASE_", "S3_", "JWT_", "PHONE_BLOCK_", "WEBHOOK_", own_prefix)
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped) and key != "ENVIRONMENT"}
    env.update(urls.as_env())
    env.update({"ENVIRONMENT": environment, "ADMIN_TIMEZONE": "UTC"})
    return env


def stop_all(children: Sequence[Child]) -> None:
    """Stop the children, the last started first; one that fails to stop is reported and the others still are."""
    for child in reversed(children):
        try:
            child.stop()
        except Exception as exc:
            print(f"warning: stopping {child.name} failed: {exc!r}", flush=True)


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class Child:
    """One long-running child (the app, the baseline) with its output in a log file."""

    def __init__(self, name: str, args: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(env)
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.proc.pid

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"=== {' '.join(self.args)} ({time.strftime('%Y-%m-%d %H:%M:%S')}) ===\n".encode())
            out.flush()
            # A session of its own: Ctrl-C reaches only the harness, which then stops the child's whole group.
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_http(self, url: str, timeout: float = 90.0) -> None:
        """Wait until GET `url` answers 200; fail early with the log's tail if the child exits."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        with httpx.Client(timeout=5.0) as client:
            while True:
                if not self.running():
                    code = None if self.proc is None else self.proc.returncode
                    raise RuntimeError(f"{self.name} exited ({code}) before it was ready:\n{log_tail(self.log)}")
                try:
                    response = client.get(url)
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text[:300]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s ({last}):\n{log_tail(self.log)}")
                time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the child's process group, SIGKILL after `timeout`."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Workers the child forked live in its group; make sure none outlives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def descendants(*roots: int) -> list[int]:
    """The `roots` and every process below them (uvicorn's workers, PostgreSQL's backends), from one read of /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: the fields after the last ")" are safe.
        fields = stat.rsplit(")", 1)[-1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], list(roots)
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def memory_kb(pid: int, field: str) -> int:
    """VmRSS or VmHWM (kB) of `pid`, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class RssSampler:
    """Polls the resident memory of a process tree every `interval` s; `peak()` is the largest single process."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._pid = pid
        self._interval = interval
        self._peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        pids = descendants(self._pid)
        refreshed = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - refreshed > 1.0:
                pids, refreshed = descendants(self._pid), time.monotonic()
            self._peak_kb = max(self._peak_kb, *(memory_kb(pid, "VmRSS") for pid in pids))
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def peak_mb(self) -> float:
        return self._peak_kb / 1024


def lifetime_peak_mb(pid: int) -> float:
    """The highest VmHWM (peak resident set over the process's life) in the tree under `pid`, in MB."""
    return max((memory_kb(p, "VmHWM") for p in descendants(pid)), default=0) / 1024


def raise_on_sigterm() -> None:
    """Turn SIGTERM (and SIGHUP) into KeyboardInterrupt so that cleanup in `finally` runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
"""`cpu_ticks` per second."""


def cpu_ticks(*roots: int) -> int:
    """User + system CPU ticks of the process trees under `roots`, those of their members that exited included.

    A process that exits and is waited for adds its ticks to its parent's cutime and cstime: summed with the living
    members' own, the total only grows (PostgreSQL's backends and autovacuum workers come and go under a load; their
    ticks once vanished with them, and a load's CPU per request came out negative)."""
    total = 0
    for member in descendants(*roots):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        total += sum(int(tick) for tick in fields[11:15])  # utime, stime, cutime, cstime
    return total


def postgres_servers() -> list[int]:
    """The PostgreSQL servers running on this machine: their postmasters, below which are their backends (for
    `cpu_ticks`). The bench's own while it runs, as nothing else may run beside it."""
    servers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[-1].split()[1])
            parent_comm = Path(f"/proc/{parent}/comm").read_text().strip() if parent > 0 else ""
        except (OSError, ValueError, IndexError):
            continue
        if comm == "postgres" and parent_comm != "postgres":
            servers.append(int(entry.name))
    return servers


async def _active_queries(conn: asyncpg.Connection) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND state <> 'idle' "
        "AND pid <> pg_backend_pid()"
    )
    return int(value or 0)


async def _cancel_queries(conn: asyncpg.Connection) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()"
    )
    return int(value or 0)


async def wait_idle(dsns: Sequence[str], pids: Sequence[int], patience: float = 30.0) -> tuple[float, int]:
    """Wait until no query runs on the servers (superuser DSNs) and the processes use < 5% CPU; the seconds waited
    and how many queries were cancelled.

    A server keeps working on requests whose client has gone (wrk closes its connections at the end of a run):
    the next measurement must not start on top of that backlog. What still runs after `patience` seconds (the
    baseline's exact counts at 5M take minutes each) is cancelled, and so is each query started after it (a
    server still works through requests it had queued): their clients are gone.
    """
    started = time.monotonic()
    cancelled = 0
    conns = [await asyncpg.connect(dsn) for dsn in dsns]
    try:
        quiet = 0
        while quiet < 2 and time.monotonic() - started < 3 * patience:
            if time.monotonic() - started > patience:
                cancelled += sum([await _cancel_queries(conn) for conn in conns])
            before = cpu_ticks(*pids)
            await asyncio.sleep(0.2)
            busy = cpu_ticks(*pids) - before
            active = sum([await _active_queries(conn) for conn in conns])
            quiet = quiet + 1 if active == 0 and busy <= 1 else 0
    finally:
        for conn in conns:
            await conn.close()
    return time.monotonic() - started, cancelled


def _cpu_times() -> tuple[int, int]:
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def machine_busy(seconds: float = 0.5) -> float:
    """The share of all CPUs busy over `seconds` (run while our own servers are idle: what others use)."""
    total, idle = _cpu_times()
    time.sleep(seconds)
    total2, idle2 = _cpu_times()
    return 1 - (idle2 - idle) / max(total2 - total, 1)
