"""`make chaos` (issue 16): the app as deployed, under load, while its servers fail one after another.

1. Services of its own under .devdata/chaos (PostgreSQL primary + streaming replica, SeaweedFS S3, reused by the
   next run), migrations, a small seed (CHAOS_MEMBERS, 20,000: it starts fast), PgBouncer in transaction mode in
   front of the primary, and a webhook receiver that records every delivery (bench/chaos/receiver.py).
2. `memberdesk serve --workers 2` with ENVIRONMENT=production, the primary through PgBouncer, the replica direct,
   WEBHOOK_URL at the receiver (OUTBOX_BACKOFF_BASE_SECONDS=1, so that a retried event comes back within the run).
3. CHAOS_CLIENTS (8) virtual operators read and write, and CHAOS_READERS (4) only read, throughout
   (bench/chaos/load.py); after a warm-up the faults of bench/chaos/faults.py come one after another,
   CHAOS_GAP (12) seconds of plain load after each.
4. The load stops, the outbox drains, and bench/chaos/verify.py checks in SQL and at the receiver that nothing was
   lost or written twice.
5. A row per fault and the checks, printed and written to bench/results/chaos.md, the run drawn in
   bench/results/chaos.png. The exit status is 1 when a fault had a failure that is not allowed or a check failed.

Progress: a bar (phase, req/s, failures, time left) on a terminal, a plain line every 5 seconds in a log.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import secrets
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson

from backend.infrastructure.progress import Progress
from bench.auth import BENCH_EMAIL, bench_password, create_operator, login
from bench.chaos import faults, load, report, verify
from bench.config import BENCH_DIR, PROJECT_ROOT
from bench.dataset import asyncpg_dsn, memberdesk_command, prepare
from bench.procs import Child, free_port, machine_busy, raise_on_sigterm, service_env, stop_all
from bench.run import _cpu_model, _git_revision
from devtools.pgbouncer import PgBouncer
from devtools.services import DevServices, Ports, ServiceUrls

PROGRESS_SECONDS = 5.0
PLANNED_FAULT_SECONDS = 140.0
"""How long the faults themselves last (20 + 30 + 20 + 20 + 30 + 10 s, and starting servers again)."""
DRAIN_TIMEOUT_SECONDS = 240.0


@dataclass(frozen=True)
class ChaosConfig:
    root: Path
    members: int
    clients: int
    readers: int
    workers: int
    warmup: float
    gap: float

    @classmethod
    def from_env(cls) -> ChaosConfig:
        """CHAOS_ROOT, CHAOS_MEMBERS, CHAOS_CLIENTS, CHAOS_READERS, CHAOS_WORKERS, CHAOS_WARMUP, CHAOS_GAP."""
        env = os.environ
        return cls(
            root=Path(env.get("CHAOS_ROOT") or PROJECT_ROOT / ".devdata" / "chaos").resolve(),
            members=int(env.get("CHAOS_MEMBERS") or 20_000),
            clients=int(env.get("CHAOS_CLIENTS") or 8),
            readers=int(env.get("CHAOS_READERS") or 4),
            workers=int(env.get("CHAOS_WORKERS") or 2),
            warmup=float(env.get("CHAOS_WARMUP") or 10),
            gap=float(env.get("CHAOS_GAP") or 12),
        )


class Ticker:
    """The run's progress, shown by the project's helper (backend/infrastructure/progress.py): on a terminal a bar
    with the phase, requests per second, failures and time left; in a log a plain line every PROGRESS_SECONDS."""

    def __init__(self, ledger: load.Ledger, planned_seconds: float) -> None:
        self.ledger = ledger
        self.phase = "warm-up"
        self.bar = Progress("chaos", round(planned_seconds), unit="s", stream=sys.stdout, every=PROGRESS_SECONDS)

    def say(self, text: str) -> None:
        self.bar.echo(f"chaos | {self.ledger.now():5.0f} s | {text}")

    def announce(self, text: str) -> None:
        if text.startswith("fault "):
            name = text.removeprefix("fault ").split(":", 1)[0].split(" ", 1)[0]
            self.phase = name if ":" in text else f"after {name}"
        self.say(text)

    async def run(self) -> None:
        seen = failed = 0
        marks: deque[tuple[float, int]] = deque()
        while True:
            await asyncio.sleep(0.5)
            now, attempts = self.ledger.now(), self.ledger.attempts
            failed += sum(1 for a in attempts[seen:] if a.kind in report.FAILED)
            seen = len(attempts)
            marks.append((now, seen))
            while now - marks[0][0] > PROGRESS_SECONDS:
                marks.popleft()
            rate = (seen - marks[0][1]) / max(now - marks[0][0], 0.5)
            self.bar.label = f"chaos {self.phase}, {rate:.0f} req/s, {failed} failed of {seen:,}"
            self.bar.update(min(round(now), self.bar.total or 0))

    def close(self) -> None:
        self.bar.close()


class ChaosRun:
    """One run: owns every process it starts and stops them whatever happens."""

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self.children: list[Child] = []
        self.webhook_secret = secrets.token_urlsafe(32)

    def run(self) -> bool:
        root = self.config.root
        root.mkdir(parents=True, exist_ok=True)
        busy = machine_busy(1.0)
        services = DevServices(root, Ports.free())
        bouncer: PgBouncer | None = None
        try:
            urls = services.start()
            prepare(urls, root, self.config.members, self._env(urls, "development"))
            bouncer = PgBouncer(root / "pgbouncer", urls.database_url)
            bouncer.start()
            return self._run_with(services, urls, bouncer, busy)
        finally:
            stop_all(self.children)
            if bouncer is not None:
                bouncer.stop()
            services.stop()

    def _env(self, urls: ServiceUrls, environment: str) -> dict[str, str]:
        return service_env(urls, environment, own_prefix="CHAOS_") | {"LOG_FORMAT": "json"}

    def _run_with(self, services: DevServices, urls: ServiceUrls, bouncer: PgBouncer, busy: float) -> bool:
        config = self.config
        run_dir = config.root / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        deliveries_log = run_dir / "deliveries.jsonl"
        deliveries_log.unlink(missing_ok=True)
        receiver_url = f"http://127.0.0.1:{free_port()}"
        receiver = Child(
            "receiver",
            [sys.executable, "-m", "bench.chaos.receiver", "--port", receiver_url.rsplit(":", 1)[1]],
            {**os.environ, "WEBHOOK_SECRET": self.webhook_secret},
            config.root / "logs" / "receiver.log",
            PROJECT_ROOT,
        )
        receiver.args += ["--log", str(deliveries_log)]
        app_url = f"http://127.0.0.1:{free_port()}"
        app_env = self._env(urls, "production") | {
            "DATABASE_URL": bouncer.url,
            "DATABASE_PGBOUNCER": "true",
            "WEBHOOK_URL": f"{receiver_url}/hook",
            "WEBHOOK_SECRET": self.webhook_secret,
            "OUTBOX_BACKOFF_BASE_SECONDS": "1",
            "HOUSEKEEPING_INTERVAL_SECONDS": "0",
            "DEBUG_HEADERS": "true",
            "JWT_TTL_SECONDS": "3600",
        }
        port, workers = app_url.rsplit(":", 1)[1], str(config.workers)
        app = Child(
            "app",
            [memberdesk_command(), "serve", "--host", "127.0.0.1", "--port", port, "--workers", workers],
            app_env,
            config.root / "logs" / "app.log",
            PROJECT_ROOT,
        )
        for child in (receiver, app):
            self.children.append(child)
            child.start()
        app.wait_http(f"{app_url}/health/ready")
        password = bench_password(config.root)
        create_operator(app_env, password)
        headers = {"Authorization": f"Bearer {login(app_url, password)}"}
        print(f"App on {app_url} ({config.workers} workers, primary through PgBouncer), receiver on {receiver_url}")
        rig = faults.Rig(services, bouncer, receiver_url, asyncpg_dsn(urls.superuser_replica_urls[0]), app.pid)
        dsn = asyncpg_dsn(urls.superuser_database_url)
        outcome = asyncio.run(self._under_load(app_url, headers, rig, dsn, deliveries_log))
        header = [
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, revision {_git_revision()}, {_cpu_model()},"
            f" {os.cpu_count()} CPUs ({busy:.0%} busy with other work before the run).",
            f"`memberdesk serve --workers {config.workers}` (production settings) on a PostgreSQL primary behind"
            " PgBouncer (transaction mode) + a streaming replica + SeaweedFS S3, webhooks to a local receiver;"
            f" {config.members:,} members seeded; {config.clients} clients reading and writing and {config.readers}"
            f" only reading throughout ({BENCH_EMAIL}, admin).",
        ]
        rows = report.fault_rows(outcome.windows, outcome.ledger.attempts, outcome.delivered, outcome.load_end)
        text = report.render(rows, outcome.checks, outcome.ledger.attempts, header, outcome.load_end)
        results = BENCH_DIR / "results"
        results.mkdir(parents=True, exist_ok=True)
        report.draw(results / "chaos.png", outcome.ledger.attempts, outcome.windows, outcome.load_end)
        (results / "chaos.md").write_text(text)
        print()
        print(text)
        print(f"Written to {(results / 'chaos.md').relative_to(PROJECT_ROOT)} and chaos.png")
        return all(row.ok for row in rows) and all(check.ok for check in outcome.checks)

    async def _under_load(
        self, app_url: str, headers: Mapping[str, str], rig: faults.Rig, dsn: str, deliveries_log: Path
    ) -> Outcome:
        config = self.config
        conn = await asyncpg.connect(dsn)
        try:
            pools = await draw_pools(conn, config.clients)
            since: datetime = await conn.fetchval("SELECT now()")
        finally:
            await conn.close()
        ledger = load.Ledger()
        progress = Ticker(ledger, config.warmup + PLANNED_FAULT_SECONDS + (len(faults.Injector.NAMES) - 1) * config.gap)
        ticking = asyncio.create_task(progress.run())
        stop = asyncio.Event()
        driving = asyncio.create_task(
            load.drive(app_url, dict(headers), ledger, pools, config.clients, config.readers, stop)
        )
        try:
            await asyncio.sleep(config.warmup)
            windows = await faults.Injector(rig, ledger, config.gap, progress.announce).run()
            progress.phase = "stopping"
            stop.set()
            await driving
            load_end = ledger.now()
            ticking.cancel()
            progress.close()
            progress.phase = "draining"
            drained = await verify.drain_outbox(dsn, since, DRAIN_TIMEOUT_SECONDS, progress.say)
            progress.say(f"outbox drained in {drained:.1f} s; checking")
            deliveries = verify.read_deliveries(deliveries_log)
            checks = await verify.verify(dsn, since, ledger.writes, deliveries)
            delivered = await delivery_times(dsn, since, deliveries)
        finally:
            stop.set()
            ticking.cancel()
            if not driving.done():
                driving.cancel()
        with (self.config.root / "run" / "attempts.jsonl").open("wb") as out:
            out.writelines(orjson.dumps(attempt) + b"\n" for attempt in ledger.attempts)
        for check in checks:
            print(f"check {check.name}: {'ok' if check.ok else 'FAILED'} ({check.detail})", flush=True)
        return Outcome(ledger, windows, checks, delivered, load_end)


@dataclass(frozen=True)
class Outcome:
    ledger: load.Ledger
    windows: list[faults.Window]
    checks: list[verify.Check]
    delivered: list[tuple[float, float]]
    load_end: float


async def draw_pools(conn: asyncpg.Connection, clients: int) -> load.Pools:
    """Pending members to decide, 20 active members per client to edit, 2,000 members to read; the next phone."""
    pending = [
        str(r["id"])
        for r in await conn.fetch(
            "SELECT id FROM users WHERE status = 'pending' AND deleted_at IS NULL ORDER BY random() LIMIT 5000"
        )
    ]
    active = [
        str(r["id"])
        for r in await conn.fetch(
            "SELECT id FROM users WHERE status = 'active' AND deleted_at IS NULL ORDER BY random() LIMIT $1",
            20 * clients,
        )
    ]
    readable = [
        str(r["id"])
        for r in await conn.fetch("SELECT id FROM users WHERE deleted_at IS NULL ORDER BY random() LIMIT 2000")
    ]
    made = await conn.fetchval("SELECT count(*) FROM users WHERE starts_with(name, $1)", load.CREATE_PREFIX)
    if len(active) < 20 * clients or not pending:
        raise RuntimeError("the seed has too few active or pending members for the load")
    return load.Pools(pending, [active[i::clients] for i in range(clients)], readable, int(made) + 1, _jpeg())


def _jpeg() -> bytes:
    """A small real JPEG (the app checks the type by the file's first bytes)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 80)).save(buffer, "JPEG")
    return buffer.getvalue()


async def delivery_times(dsn: str, since: datetime, deliveries: list[verify.Delivery]) -> list[tuple[float, float]]:
    """(committed, first delivered at the receiver) in run seconds, per outbox event of the run."""
    first: dict[str, float] = {}
    for d in deliveries:
        first.setdefault(d.event_id, d.at)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text AS id, extract(epoch FROM created_at)::float8 AS at FROM outbox WHERE created_at >= $1",
            since,
        )
    finally:
        await conn.close()
    start = since.timestamp()
    return [(r["at"] - start, first[r["id"]] - start) for r in rows if r["id"] in first]


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("devtools.services").setLevel(logging.INFO)
    raise_on_sigterm()
    started = time.monotonic()
    try:
        ok = ChaosRun(ChaosConfig.from_env()).run()
    except KeyboardInterrupt:
        print("\nmake chaos: interrupted; every process it started is stopped.", file=sys.stderr)
        raise SystemExit(130) from None
    print(f"make chaos: {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s", flush=True)
    raise SystemExit(0 if ok else 1)
