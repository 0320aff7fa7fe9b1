"""HTTP load: wrk (Debian's package) with bench/wrk/rotate.lua, or an httpx/asyncio generator when wrk is missing.

Each run rotates over a list of request paths (random member ids, q terms, deep cursors) on `concurrency`
keep-alive connections: a warm-up, then the measured window, in one go on the same connections, so that no
request left over from the warm-up runs on top of the measured ones. Throughput counts the answers received in
the window; p50/p99 are the latencies of the requests both sent and answered in it. Errors are non-2xx answers
plus socket errors (connect, read, write, timeout).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.config import BENCH_DIR

WRK_SCRIPT = BENCH_DIR / "wrk" / "rotate.lua"
WRK_WRITES_SCRIPT = BENCH_DIR / "wrk" / "writes.lua"
WRK_TIMEOUT = "60s"


@dataclass(frozen=True)
class Load:
    """One load run: which server, which requests, how many at once."""

    name: str
    server: str
    base_url: str
    paths: Sequence[str]
    concurrency: int
    method: str = "GET"
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    requests: Sequence[WriteRequest] = ()
    """Writes: each request sent once (dealt out over the connections), instead of `paths` rotated."""


@dataclass(frozen=True)
class WriteRequest:
    """One write of a load that sends each request once: its method, path, If-Match and JSON body."""

    method: str
    path: str
    if_match: str = ""
    body: bytes = b""

    def line(self) -> str:
        return "\t".join((self.method, self.path, self.if_match, self.body.decode()))


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    tool: str
    timed: int = -1
    """Requests both started and finished inside the measured window (their latencies give p50/p99); -1: all."""

    @property
    def has_latency(self) -> bool:
        return self.timed != 0 and self.requests > 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def ensure_wrk() -> str | None:
    """The wrk binary; installed with apt-get when missing and possible; None means the Python generator."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None:
        print("wrk is missing and apt-get is not available: using the Python load generator", flush=True)
        return None
    print("wrk is missing: apt-get install -y wrk ...", flush=True)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    for commands in ([install], [["apt-get", "update", "-q"], install]):
        for command in commands:
            try:
                subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=300)
            except (OSError, subprocess.TimeoutExpired):
                break
        found = shutil.which("wrk")
        if found:
            return found
    print("could not install wrk: using the Python load generator", flush=True)
    return None


class LoadGenerator:
    """Runs loads with wrk when there is one, else with httpx on asyncio."""

    def __init__(self, wrk: str | None, workdir: Path, duration: float, warmup: float) -> None:
        self.wrk = wrk
        self.workdir = workdir
        self.duration = duration
        self.warmup = warmup
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "httpx"

    def run(self, load: Load) -> LoadResult:
        """Warm-up and measured window in one go, on the same connections (no orphaned requests in between)."""
        if self.wrk is None:
            return asyncio.run(_python_load(load, self.duration, self.warmup))
        if load.requests:
            lines_file = self.workdir / f"{load.server}-{load.name.replace(' ', '_')}-c{load.concurrency}.requests"
            lines_file.write_text("\n".join(request.line() for request in load.requests) + "\n")
            return self._wrk(load, WRK_WRITES_SCRIPT, [str(lines_file), str(self.warmup), str(load.concurrency)])
        paths_file = self.workdir / f"{load.server}-{load.name.replace(' ', '_')}-c{load.concurrency}.paths"
        paths_file.write_text("\n".join(load.paths) + "\n")
        body_file = ""
        if load.body is not None:
            body_path = paths_file.with_suffix(".body")
            body_path.write_bytes(load.body)
            body_file = str(body_path)
        return self._wrk(load, WRK_SCRIPT, [str(paths_file), load.method, body_file, str(self.warmup)])

    def _wrk(self, load: Load, script: Path, script_args: list[str]) -> LoadResult:
        assert self.wrk is not None
        total = max(1, round(self.warmup + self.duration))
        # One thread per connection: the script times each request itself (see bench/wrk/rotate.lua).
        n = load.concurrency
        args = [self.wrk, f"-t{n}", f"-c{n}", f"-d{total}s", f"--timeout={WRK_TIMEOUT}"]
        for name, value in load.headers.items():
            args += ["-H", f"{name}: {value}"]
        args += ["-s", str(script), load.base_url, "--", *script_args]
        proc = subprocess.run(
            args, capture_output=True, text=True, check=False, timeout=total + 120, start_new_session=True
        )
        line = next((text for text in proc.stdout.splitlines() if text.startswith("BENCH_JSON ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
        data = json.loads(line.removeprefix("BENCH_JSON "))
        return LoadResult(
            requests=int(data["completed"]),
            seconds=max(data["duration_us"] / 1e6 - self.warmup, 1e-9),
            p50_ms=data["p50_s"] * 1000,
            p99_ms=data["p99_s"] * 1000,
            non2xx=int(data["non2xx"]),
            socket_errors=int(data["connect"] + data["read"] + data["write"] + data["timeout"]),
            tool="wrk",
            timed=int(data["timed"]),
        )


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _python_load(load: Load, duration: float, warmup: float) -> LoadResult:
    """`concurrency` keep-alive workers sending requests back to back; latencies of the measured window only."""
    limits = httpx.Limits(max_connections=load.concurrency, max_keepalive_connections=load.concurrency)
    latencies: list[float] = []
    counts = {"non2xx": 0, "socket": 0, "requests": 0}
    rng = random.Random()
    writes = iter(load.requests)
    async with httpx.AsyncClient(
        base_url=load.base_url, headers=dict(load.headers), limits=limits, timeout=60.0
    ) as client:

        async def worker(until: float, record: bool) -> None:
            while time.perf_counter() < until:
                started = time.perf_counter()
                try:
                    if load.requests:  # each write once, in order; repeats (and so errors) only once all are sent
                        write = next(writes, None) or load.requests[rng.randrange(len(load.requests))]
                        headers = {"If-Match": write.if_match} if write.if_match else None
                        response = await client.request(write.method, write.path, content=write.body, headers=headers)
                    else:
                        path = load.paths[rng.randrange(len(load.paths))]
                        response = await client.request(load.method, path, content=load.body)
                    await response.aread()
                    ok = 200 <= response.status_code < 300
                    socket_error = False
                except httpx.HTTPError:
                    ok, socket_error = False, True
                if record:
                    latencies.append(time.perf_counter() - started)
                    counts["requests"] += 0 if socket_error else 1
                    counts["socket"] += socket_error
                    counts["non2xx"] += not ok and not socket_error

        if warmup > 0:
            until = time.perf_counter() + warmup
            await asyncio.gather(*(worker(until, False) for _ in range(load.concurrency)))
        started = time.perf_counter()
        until = started + duration
        await asyncio.gather(*(worker(until, True) for _ in range(load.concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return LoadResult(
        requests=counts["requests"],
        seconds=elapsed,
        p50_ms=_percentile(ordered, 50) * 1000,
        p99_ms=_percentile(ordered, 99) * 1000,
        non2xx=counts["non2xx"],
        socket_errors=counts["socket"],
        tool="httpx",
        timed=len(latencies),
    )
