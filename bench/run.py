"""`make bench`: issue 6's benchmark, from an empty machine to one table in bench/results/latest.md.

1. Services of its own under .devdata/bench (PostgreSQL primary + streaming replica, SeaweedFS S3), reused by
   the next run; migrations; 1,000,000 members seeded once (timed), VACUUM ANALYZE, the replica caught up.
2. The app as a user runs it: `memberdesk serve --workers N` with ENVIRONMENT=production, the service env
   and a generated JWT_SECRET; the raw baseline (bench/baseline.py) under uvicorn with the same worker count.
3. Checks: exact totals, exact dashboard, presigned URLs fetched from S3, presigning cost per URL.
4. Load with wrk (bench/wrk/rotate.lua), warm-up then measured window, per endpoint on both servers; the
   dashboard also at concurrency 1 and against seven gathered counts; the detail's loader four ways; one full
   CSV export per server with the app's peak RSS; issue 16's writes, each on the baseline and then the app
   (bench/writes.py, bench/wrk/writes.lua: each request sent once, what a load wrote put back after it); the
   outbox's delivery to a local webhook receiver (bench/delivery.py, bench/receiver.py: a child of the run, the
   app's WEBHOOK_URL); a bulk approval of 500 members (issue 13; it writes, and puts them back); login last
   (it writes).
5. One table and the targets, printed and written to bench/results/latest.md; every process stopped, also on
   Ctrl-C or an error.

Settings (environment): BENCH_DURATION (10 s), BENCH_WARMUP (2 s), BENCH_CONCURRENCY (32), BENCH_WORKERS (2),
BENCH_MEMBERS (1000000), BENCH_ROOT (.devdata/bench), BENCH_ONLY (comma-separated scenario names: list, deep,
q, detail, dashboard, loader, claims, queue, export, writes or one of them as "write note", outbox, bulk, browser,
login), BENCH_WRITES (20000 distinct requests prepared per write load), BENCH_PROFILE (scenario names to
profile with py-spy afterwards, `writes` included). The queue scenario (issue 13) measures the photo queue's first
page and deep cursor pages against the app's own member list page (measured with it when BENCH_ONLY leaves the list
out). The browser scenario (issue 14, bench/browser.py) drives the console in Chromium.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson

from backend.infrastructure.progress import Progress
from bench import browser, bulk, checks, claims, delivery, growth, profile, writes
from bench.auth import BENCH_EMAIL, LOGIN_PATH, Auth
from bench.bulk import BulkResult
from bench.checks import Check, ExportResult
from bench.config import PROJECT_ROOT, BenchConfig
from bench.dataset import (
    LIST_FILTER,
    QUEUE_FILTER,
    Samples,
    SeedInfo,
    asyncpg_dsn,
    dashboard_truth,
    draw_samples,
    memberdesk_command,
    prepare,
)
from bench.loadgen import Load, LoadGenerator, LoadResult, ensure_wrk
from bench.procs import (
    CLOCK_TICKS,
    Child,
    cpu_ticks,
    free_port,
    lifetime_peak_mb,
    machine_busy,
    postgres_servers,
    raise_on_sigterm,
    service_env,
    stop_all,
    wait_idle,
)
from bench.report import Row, Target, render
from devtools.services import DevServices, Ports, ServiceUrls

API = "/api/v1/admin"
PAGE = 50
LOADER_WAYS = ("parallel", "sequential", "single", "default")
LOADER_LABELS = {
    "parallel": "parallel, a session per relation",
    "sequential": "sequential, one session",
    "single": "one statement",
    "default": "the app's default (load_detail, MEMBER_LOADER)",
}


@dataclass(frozen=True)
class CpuPerRequest:
    """CPU time per request of a load: the server's processes (the app's workers, or the baseline's) and PostgreSQL's
    (every backend of the primary and the replica), over the whole load (warm-up included) divided by the requests
    it served at the measured rate. Where the two servers' ratio comes from: the app's own work, or the database's."""

    server_ms: float
    postgres_ms: float

    def __str__(self) -> str:
        return f"CPU per request: server {self.server_ms:.2f} ms, PostgreSQL {self.postgres_ms:.2f} ms"


@dataclass
class Results:
    """Everything measured, by (scenario, server, concurrency)."""

    loads: dict[tuple[str, str, int], LoadResult] = field(default_factory=dict)
    exports: dict[str, ExportResult] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    bulk: BulkResult | None = None
    outbox: delivery.OutboxResult | None = None
    browser: browser.BrowserResult | None = None
    lifetime_rss_mb: float | None = None
    cpu: dict[tuple[str, str, int], CpuPerRequest] = field(default_factory=dict)

    def get(self, scenario: str, server: str, concurrency: int) -> LoadResult | None:
        return self.loads.get((scenario, server, concurrency))


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _app_cursors(samples: Samples, jwt_secret: str) -> list[str]:
    """The app's signed keyset cursors for the sampled deep positions (default order: -created_at, -id)."""
    from backend.api.listing import encode_cursor
    from backend.domain.member.service import total_order
    from backend.infrastructure.settings import derived_key

    order = total_order(())
    key = derived_key(jwt_secret, "list cursors")
    return [
        encode_cursor([created_at.isoformat(), str(member_id)], order, key)
        for created_at, member_id in samples.deep_after
    ]


def _queue_cursors(samples: Samples, jwt_secret: str) -> list[str]:
    """The app's signed cursors for the sampled deep positions of the photo queue (oldest first)."""
    from backend.api.listing import OLDEST_FIRST, encode_cursor
    from backend.domain.ordering import total_order
    from backend.infrastructure.settings import derived_key

    order = total_order((), OLDEST_FIRST)
    key = derived_key(jwt_secret, "list cursors")
    return [encode_cursor([stamp.isoformat(), str(photo_id)], order, key) for stamp, photo_id in samples.queue_after]


class Bench:
    """One run: owns the services and children it starts, and stops them whatever happens."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.root = config.root
        self.results = Results()
        self.jwt_secret = secrets.token_urlsafe(48)
        self.children: list[Child] = []
        self.started = time.monotonic()
        self.tool = ""
        self.py_spy = profile.find_py_spy() if os.environ.get("BENCH_PROFILE") else None
        self.profile_names = {p.strip() for p in os.environ.get("BENCH_PROFILE", "").split(",") if p.strip()}
        self.idle_dsns: list[str] = []
        self.auth: Auth | None = None
        self.progress: Progress | None = None
        """The loads' progress while they run (their lines are printed through it, above its bar)."""
        self.webhook_secret = secrets.token_urlsafe(32)
        self.receiver_url = ""
        self.app: Child | None = None
        self.baseline: Child | None = None
        self.others_busy: list[float] = []

    # ------------------------------------------------------------------------------------------------ the run

    def run(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        wrk = ensure_wrk()
        services = DevServices(self.root, Ports.free())
        try:
            urls = services.start()
            report = self._run_with(urls, wrk)
        finally:
            stop_all(self.children)
            services.stop()
        return report

    def _env(self, urls: ServiceUrls, environment: str) -> dict[str, str]:
        env = service_env(urls, environment, own_prefix="BENCH_") | {"JWT_SECRET": self.jwt_secret}
        # The login load comes from one address: without this, all but a couple of its concurrent logins per process
        # would be refused at once (LOGIN_CHECKS_PER_CLIENT), and the figure would be the refusals' latency.
        env["LOGIN_CHECKS_PER_CLIENT"] = "100"
        return env

    def _run_with(self, urls: ServiceUrls, wrk: str | None) -> str:
        config = self.config
        app_env = self._env(urls, "production")
        receiver_port = free_port()
        receiver = Child(
            "receiver",
            [sys.executable, "-m", "bench.receiver", str(receiver_port), self.webhook_secret],
            app_env,
            self.root / "logs" / "receiver.log",
            PROJECT_ROOT,
        )
        self.receiver_url = f"http://127.0.0.1:{receiver_port}"
        app_env |= {"WEBHOOK_URL": f"{self.receiver_url}/hook", "WEBHOOK_SECRET": self.webhook_secret}
        seed = prepare(urls, self.root, config.members, self._env(urls, "development"))
        samples = asyncio.run(draw_samples(asyncpg_dsn(urls.database_url)))

        app_port, baseline_port = free_port(), free_port()
        app_url, baseline_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{baseline_port}"
        workers = str(config.workers)
        app = Child(
            "app",
            [memberdesk_command(), "serve", "--host", "127.0.0.1", "--port", str(app_port), "--workers", workers],
            app_env,
            self.root / "logs" / "app.log",
            PROJECT_ROOT,
        )
        baseline = Child(
            "baseline",
            [
                *(sys.executable, "-m", "uvicorn", "bench.baseline:app", "--host", "127.0.0.1"),
                *("--port", str(baseline_port), "--workers", workers, "--no-access-log", "--log-level", "warning"),
            ],
            {
                **app_env,
                "BASELINE_DSN": asyncpg_dsn(urls.replica_urls[0]),
                "BASELINE_WRITE_DSN": asyncpg_dsn(urls.database_url),
            },
            self.root / "logs" / "baseline.log",
            PROJECT_ROOT,
        )
        self.app, self.baseline = app, baseline
        for child in (receiver, app, baseline):
            self.children.append(child)
            child.start()
        receiver.wait_http(f"{self.receiver_url}/health")
        app.wait_http(f"{app_url}/health/ready")
        baseline.wait_http(f"{baseline_url}/health")
        self.idle_dsns = [asyncpg_dsn(urls.superuser_database_url), *map(asyncpg_dsn, urls.superuser_replica_urls)]
        print(f"App on {app_url} ({workers} worker(s)), baseline on {baseline_url}", flush=True)

        auth = self.auth = Auth(app_url, app_env, self.root)
        print(f"Authentication: {'bearer token for ' + BENCH_EMAIL if auth.enabled else 'none (no login route)'}")
        primary_dsn = asyncpg_dsn(urls.database_url)
        samples.dashboard_truth = asyncio.run(dashboard_truth(primary_dsn))
        self._checks(app_url, auth, samples, app_env, lambda: asyncio.run(dashboard_truth(primary_dsn)))

        generator = LoadGenerator(wrk, self.root / "load", config.duration, config.warmup)
        self.tool = generator.tool
        self._loads(generator, app, app_url, baseline_url, auth, samples)
        if config.wants("claims") and auth.enabled:
            self._claims(generator, app_url, auth, asyncpg_dsn(urls.superuser_database_url))
        if config.wants("export"):
            self._exports(app, app_url, baseline_url, auth)
        if any(self._wants_write(scenario) for scenario in writes.SCENARIOS) and auth.enabled:
            self._writes(generator, app_url, baseline_url, auth, primary_dsn)
        if config.wants("outbox") and auth.enabled:
            self._settle()
            self.results.outbox = delivery.measure(primary_dsn, app_url, auth.headers(), self.receiver_url)
            for line in delivery.describe(self.results.outbox):
                print(f"outbox: {line}", flush=True)
        if config.wants("bulk") and auth.enabled:
            self._settle()
            self.results.bulk = bulk.measure_bulk(app_url, auth.headers(), asyncpg_dsn(urls.superuser_database_url))
            print(f"bulk: {self.results.bulk.detail}", flush=True)
            if "bulk" in self.profile_names and self.py_spy and self.app is not None:
                self._profile_bulk(app_url, auth, asyncpg_dsn(urls.superuser_database_url))
        if config.wants("browser") and auth.enabled:
            self._settle()
            self.results.browser = browser.measure_browser(app_url, BENCH_EMAIL, auth.password, primary_dsn)
            print(f"browser: login {self.results.browser.describe(self.results.browser.login_ms)}", flush=True)
            changes = " ".join(f"{ms:.0f}" for ms in self.results.browser.filter_ms)
            print(f"browser: filter changes in order, ms (each to filters the page had not asked for): {changes}")
        if config.wants("login") and auth.enabled:
            body = orjson.dumps({"email": BENCH_EMAIL, "password": auth.password})
            self._measure(
                generator,
                Load(
                    "login",
                    "app",
                    app_url,
                    [LOGIN_PATH],
                    config.concurrency,
                    method="POST",
                    body=body,
                    headers={"Content-Type": "application/json"},
                ),
            )
        self.results.lifetime_rss_mb = lifetime_peak_mb(app.pid)
        growth.save(
            config.results_dir,
            seed.members,
            seed,
            self.results.loads,
            config.concurrency,
            _git_revision(),
            self.others_busy,
        )
        return self._report(seed, samples, wrk)

    def _claims(self, generator: LoadGenerator, app_url: str, auth: Auth, dsn: str) -> None:
        """POST /reviews/next at full concurrency, then the double claims counted in SQL (bench/claims.py)."""
        self._settle()
        started = claims.release_claims(dsn)
        for line in claims.explain(dsn):
            print(f"  {line}", flush=True)
        headers = {**auth.headers(), "Content-Type": "application/json"}
        load = Load(
            "reviews_next", "app", app_url, [claims.PATH], self.config.concurrency, "POST", claims.QUEUE_BODY, headers
        )
        self._measure(generator, load)
        self._settle()  # the requests still in flight when the window closed commit first
        check = claims.double_claims(dsn, started)
        print(f"check claims: {check.ok} ({check.detail})", flush=True)
        self.results.checks["claims"] = check

    def _wants_write(self, scenario: str) -> bool:
        """Every write with BENCH_ONLY=writes; one with its load's name (BENCH_ONLY="write note,write patch")."""
        return self.config.wants("writes") or self.config.wants(f"write {scenario}")

    def _writes(self, generator: LoadGenerator, app_url: str, baseline_url: str, auth: Auth, dsn: str) -> None:
        """Each write on the baseline, then on the app, from the same state: what a load wrote is put back."""
        json_headers = {"Content-Type": "application/json"}
        for scenario in filter(self._wants_write, writes.SCENARIOS):
            for server, url, headers in (
                ("baseline", baseline_url, json_headers),
                ("app", app_url, {**auth.headers(), **json_headers}),
            ):
                requests, restore = writes.draw(dsn, scenario, self.config.writes, app=server == "app")
                load = Load(f"write {scenario}", server, url, [], self.config.concurrency, headers=headers)
                try:
                    self._measure(generator, replace(load, requests=requests))
                    self._settle()
                finally:
                    writes.put_back(dsn, restore)
                if server == "app" and "writes" in self.profile_names and self.py_spy and self.app is not None:
                    requests, restore = writes.draw(dsn, scenario, self.config.writes, app=True)
                    try:
                        self._profile(generator, self.app, replace(load, requests=requests), "writes")
                        self._settle()
                    finally:
                        writes.put_back(dsn, restore)

    # ----------------------------------------------------------------------------------------------- checks

    def _checks(
        self,
        app_url: str,
        auth: Auth,
        samples: Samples,
        app_env: dict[str, str],
        recount_dashboard: Callable[[], dict[str, int]],
    ) -> None:
        with httpx.Client(base_url=app_url, headers=auth.headers(), timeout=60.0) as client:
            found = {
                "totals": checks.check_totals(client, samples),
                "dashboard": checks.check_dashboard(client, samples, recount_dashboard),
                "presigned": checks.check_presigned(client, samples),
                "queue_total": checks.check_queue_total(client, samples),
            }
        found["presign_cost"] = checks.presign_cost_us(app_env)
        for name, check in found.items():
            print(f"check {name}: {check.ok} ({check.detail})", flush=True)
        self.results.checks.update(found)

    # ------------------------------------------------------------------------------------------------- load

    def _settle(self) -> None:
        """Let the servers finish what the last load left in flight before the next one starts."""
        pids = [child.pid for child in self.children if child.running()]
        waited, cancelled = asyncio.run(wait_idle(self.idle_dsns, pids))
        if cancelled:
            self._say(f"  (cancelled {cancelled} queries the previous load left running after {waited:.1f} s)")
        elif waited > 2:
            self._say(f"  (waited {waited:.1f} s for the servers to finish the previous load's requests)")

    def _say(self, line: str) -> None:
        """A line of the run's output, above the loads' progress bar while there is one."""
        if self.progress is not None:
            self.progress.echo(line)
        else:
            print(line, flush=True)

    def _measure(self, generator: LoadGenerator, load: Load) -> LoadResult | None:
        self._settle()
        # Our servers are idle now: whatever keeps the CPUs busy is someone else's.
        self.others_busy.append(machine_busy())
        if self.auth is not None and "Authorization" in load.headers:
            # Loads are made before the first runs; a token taken then would expire on a long run (at 5M).
            load = replace(load, headers={**load.headers, **self.auth.headers()})
        server = self.app if load.server == "app" else self.baseline
        server_pid = server.pid if server is not None and server.running() else None
        databases = postgres_servers()
        ticks = (cpu_ticks(server_pid) if server_pid else 0, cpu_ticks(*databases))
        started = time.monotonic()
        try:
            result = generator.run(load)
        except Exception as exc:
            self._say(f"{load.server:8} {load.name:22} c={load.concurrency:<3} FAILED: {exc!r}")
            return None
        key = (load.name, load.server, load.concurrency)
        self.results.loads[key] = result
        served = result.rps * (time.monotonic() - started)
        if server_pid and served > 0:
            per_request = 1000 / CLOCK_TICKS / served
            self.results.cpu[key] = CpuPerRequest(
                (cpu_ticks(server_pid) - ticks[0]) * per_request,
                (cpu_ticks(*databases) - ticks[1]) * per_request,
            )
        timing = (
            f"p50 {result.p50_ms:8.1f} ms  p99 {result.p99_ms:8.1f} ms" if result.has_latency else "latency > window"
        )
        line = (
            f"{load.server:8} {load.name:22} c={load.concurrency:<3} {result.rps:9.1f} req/s  {timing}  "
            f"errors {result.errors}"
        )
        if key in self.results.cpu:
            line += f"  ({self.results.cpu[key]})"
        self._say(line)
        return result

    def _loads(
        self, generator: LoadGenerator, app: Child, app_url: str, baseline_url: str, auth: Auth, samples: Samples
    ) -> None:
        config = self.config
        c = config.concurrency
        status, gender = LIST_FILTER["status"], LIST_FILTER["gender"]
        filtered = f"status={status}&gender={gender}&limit={PAGE}"
        deep_base = [
            f"/members?{filtered}&after={quote(created_at.isoformat() + ',' + str(member_id), safe='')}"
            for created_at, member_id in samples.deep_after
        ]
        q_paths = [f"?q={quote(term)}&limit={PAGE}" for term in samples.q_terms]
        plan: list[tuple[str, Callable[[], list[Load]]]] = [
            (
                "list",
                lambda: [
                    Load("list", "baseline", baseline_url, [f"/members?{filtered}"], c),
                    Load("list+count", "baseline", baseline_url, [f"/members?{filtered}&count=exact"], c),
                    Load("list", "app", app_url, [f"{API}/members?{filtered}"], c, headers=auth.headers()),
                    Load(
                        "list, no count",
                        "app",
                        app_url,
                        [f"{API}/members?{filtered}"],
                        c,
                        headers={**auth.headers(), "Prefer": "count=none"},
                    ),
                ],
            ),
            (
                "deep",
                lambda: [
                    Load("deep", "baseline", baseline_url, deep_base, c),
                    Load(
                        "deep",
                        "app",
                        app_url,
                        [
                            f"{API}/members?{filtered}&cursor={cursor}"
                            for cursor in _app_cursors(samples, self.jwt_secret)
                        ],
                        c,
                        headers=auth.headers(),
                    ),
                ],
            ),
            (
                "q",
                lambda: [
                    Load("q", "baseline", baseline_url, [f"/members{p}" for p in q_paths], c),
                    Load("q", "app", app_url, [f"{API}/members{p}" for p in q_paths], c, headers=auth.headers()),
                ],
            ),
            (
                "detail",
                lambda: [
                    Load("detail", "baseline", baseline_url, [f"/members/{i}" for i in samples.member_ids], c),
                    Load(
                        "detail",
                        "app",
                        app_url,
                        [f"{API}/members/{i}" for i in samples.member_ids],
                        c,
                        headers=auth.headers(),
                    ),
                ],
            ),
            (
                "dashboard",
                lambda: [
                    Load("dashboard", "baseline", baseline_url, ["/dashboard"], 1),
                    Load("dashboard", "app", app_url, [f"{API}/dashboard/stats"], 1, headers=auth.headers()),
                    Load("dashboard", "baseline", baseline_url, ["/dashboard"], c),
                    Load("seven counts", "baseline", baseline_url, ["/dashboard/seven"], c),
                    Load("dashboard", "app", app_url, [f"{API}/dashboard/stats"], c, headers=auth.headers()),
                ],
            ),
            (
                "loader",
                lambda: [
                    Load(
                        f"loader {way}", "baseline", baseline_url, [f"/loader/{way}/{i}" for i in samples.member_ids], n
                    )
                    for n in (1, c)
                    for way in LOADER_WAYS
                ],
            ),
        ]
        queue = f"{QUEUE_FILTER}&limit={PAGE}"
        plan.append(
            (
                "queue",
                lambda: [
                    # The member list's page is what the queue's is held to: measured here too when left out.
                    *(
                        []
                        if config.wants("list")
                        else [Load("list", "app", app_url, [f"{API}/members?{filtered}"], c, headers=auth.headers())]
                    ),
                    Load("photo queue", "app", app_url, [f"{API}/photos?{queue}"], c, headers=auth.headers()),
                    Load(
                        "photo queue, deep",
                        "app",
                        app_url,
                        [
                            f"{API}/photos?{queue}&cursor={cursor}"
                            for cursor in _queue_cursors(samples, self.jwt_secret)
                        ],
                        c,
                        headers=auth.headers(),
                    ),
                ],
            )
        )
        chosen = [(scenario, load) for scenario, loads in plan if config.wants(scenario) for load in loads()]
        with Progress("Bench", len(chosen), unit="loads", stream=sys.stdout, every=30.0) as self.progress:
            for scenario, load in chosen:
                self._measure(generator, load)
                if load.server == "app" and scenario in self.profile_names and self.py_spy:
                    self._profile(generator, app, load, scenario)
                self.progress.advance()
        self.progress = None

    def _profile(self, generator: LoadGenerator, app: Child, load: Load, scenario: str) -> None:
        slug = "".join(ch if ch.isalnum() else "-" for ch in load.name)
        unmeasured = LoadGenerator(generator.wrk, generator.workdir, self.config.duration + 1, 0)
        self._profiled(
            app.pid,
            self.config.duration,
            f"profile-{slug}-c{load.concurrency}.txt",
            f"{scenario} c={load.concurrency}",
            lambda: unmeasured.run(load),
        )

    def _profile_bulk(self, app_url: str, auth: Auth, dsn: str) -> None:
        """The bulk once more (not measured), under py-spy."""
        assert self.app is not None
        seconds = bulk.RUNS * bulk.TARGET_SECONDS * 2
        self._profiled(
            self.app.pid, seconds, "profile-bulk.txt", "bulk", lambda: bulk.measure_bulk(app_url, auth.headers(), dsn)
        )

    def _profiled(self, pid: int, seconds: float, name: str, label: str, drive: Callable[[], object]) -> None:
        """`drive()` under py-spy on `pid` for `seconds`: the collapsed stacks in results/`name`, and their summary
        beside them and printed."""
        assert self.py_spy is not None
        output = self.config.results_dir / name
        recorder = profile.start(self.py_spy, pid, seconds, output)
        drive()
        _, errors = recorder.communicate(timeout=60)
        if output.exists():
            summary = profile.summarize(output)
            output.with_suffix(".summary.txt").write_text(summary + "\n")
            print(f"profile of app {label}: {output}\n{summary}", flush=True)
        else:
            print(f"py-spy wrote no profile: {errors.decode(errors='replace')[-500:]}", flush=True)

    def _exports(self, app: Child, app_url: str, baseline_url: str, auth: Auth) -> None:
        timeout = self.config.export_timeout
        for server, url, path, headers, pid in (
            ("baseline", baseline_url, "/members/export.csv", {}, None),
            ("app", app_url, f"{API}/members/export.csv", auth.headers(), app.pid),
        ):
            self._settle()
            result = checks.measure_export(url, path, headers, timeout, pid)
            self.results.exports[server] = result
            rss = f", peak RSS {result.peak_rss_mb:.0f} MB" if result.peak_rss_mb is not None else ""
            print(
                f"{server:8} export: status {result.status}, {result.rows:,} rows in {result.seconds:.1f} s "
                f"({result.rows_per_second:,.0f} rows/s, {result.megabytes:.0f} MB){rss}",
                flush=True,
            )

    # ----------------------------------------------------------------------------------------------- report

    def _ratio(self, app: LoadResult | None, base: LoadResult | None) -> float | None:
        if app is None or base is None or base.rps == 0:
            return None
        return app.rps / base.rps

    def _rows(self) -> list[Row]:
        r = self.results
        c = self.config.concurrency
        rows: list[Row] = []

        def pair(
            label: str, scenario: str, conc: int, base_scenario: str | None = None, note: str = "", cpu: bool = False
        ) -> None:
            base_key = (base_scenario or scenario, "baseline", conc)
            app_key = (scenario, "app", conc)
            base, app = r.loads.get(base_key), r.loads.get(app_key)

            def noted(key: tuple[str, str, int], text: str) -> str:
                share = r.cpu.get(key) if cpu else None
                return "; ".join(part for part in (text, str(share) if share else "") if part)

            if app is not None:
                rows.append(Row(label, "app", conc, app, self._ratio(app, base), noted(app_key, note)))
            if base is not None:
                rows.append(Row(label, "baseline", conc, base, note=noted(base_key, "")))

        pair(f"list {LIST_FILTER['status']}+{LIST_FILTER['gender']}, first {PAGE}", "list", c, note="app: with total")
        no_count = r.get("list, no count", "app", c)
        if no_count is not None:
            rows.append(
                Row(
                    f"list {LIST_FILTER['status']}+{LIST_FILTER['gender']}, first {PAGE}, Prefer: count=none",
                    "app",
                    c,
                    no_count,
                    self._ratio(no_count, r.get("list", "baseline", c)),
                    "app without its total",
                )
            )
        base_count = r.get("list+count", "baseline", c)
        if base_count is not None:
            rows.append(
                Row(
                    f"list {LIST_FILTER['status']}+{LIST_FILTER['gender']}, first {PAGE}, exact count(*)",
                    "baseline",
                    c,
                    base_count,
                )
            )
        pair(f"list, deep keyset page of {PAGE}", "deep", c, note="app: with total")
        pair(f"q search, first {PAGE}", "q", c, note="app: with total, counted up to 10,000")
        pair("member detail", "detail", c, note="app: with presigned URLs")
        for name, label in (("photo queue", "first"), ("photo queue, deep", "deep keyset")):
            queue = r.get(name, "app", c)
            if queue is not None:
                note = "pending photos, oldest first, with total, presigned URLs and members"
                rows.append(Row(f"photo queue, {label} page of {PAGE}", "app", c, queue, note=note))
        pair("dashboard stats", "dashboard", 1, note="baseline: the app's 4 queries")
        pair("dashboard stats", "dashboard", c, note="baseline: the app's 4 queries")
        seven = r.get("seven counts", "baseline", c)
        if seven is not None:
            rows.append(Row("seven count queries, gathered", "baseline", c, seven))
        for conc in (1, c):
            measured = {way: r.get(f"loader {way}", "baseline", conc) for way in LOADER_WAYS}
            best = max((m.rps for m in measured.values() if m is not None), default=0.0)
            for way, result in measured.items():
                if result is not None:
                    note = "fastest" if best and result.rps == best else f"{result.rps / best:.2f}x of fastest"
                    label = f"detail loader: {LOADER_LABELS[way]}"
                    rows.append(Row(label, "SQLAlchemy", conc, result, note=note))
        for server in ("app", "baseline"):
            export = r.exports.get(server)
            if export is None:
                continue
            if not export.available:
                rows.append(Row("CSV export, all members", server, 1, None, note=f"not available ({export.status})"))
                continue
            base_export = r.exports.get("baseline")
            ratio = None
            if server == "app" and base_export is not None and base_export.rows_per_second:
                ratio = export.rows_per_second / base_export.rows_per_second
            note = f"{export.rows:,} rows, {export.megabytes:.0f} MB in {export.seconds:.1f} s"
            if not export.complete:
                note += f", INCOMPLETE (status {export.status})"
            if export.peak_rss_mb is not None:
                note += f"; peak RSS {export.peak_rss_mb:.0f} MB"
            rows.append(
                Row(
                    "CSV export, all members",
                    server,
                    1,
                    None,
                    ratio,
                    note,
                    rate=f"{export.rows_per_second:,.0f} rows/s",
                )
            )
        if r.bulk is not None and r.bulk.seconds:
            rate = f"{bulk.SIZE / r.bulk.median:,.0f} members/s"
            rows.append(Row(f"bulk approve of {bulk.SIZE} members", "app", 1, None, note=r.bulk.detail, rate=rate))
        for scenario in writes.SCENARIOS:
            pair(f"write: {writes.LABELS[scenario]}", f"write {scenario}", c, note="each request once", cpu=True)
        if r.outbox is not None:
            rate, latency = delivery.describe(r.outbox)
            t = r.outbox.throughput
            rows.append(Row("outbox delivery to a webhook", "app", 1, None, note=rate, rate=f"{t.rate:,.0f} events/s"))
            rows.append(
                Row(f"outbox commit to delivery at {delivery.DECISION_RATE} decisions/s", "app", 1, None, note=latency)
            )
        rows.extend(self._browser_rows())
        login = r.get("login", "app", c)
        if login is not None:
            rows.append(Row("login", "app", c, login, note="argon2 verify; no baseline"))
        claimed = r.get("reviews_next", "app", c)
        if claimed is not None:
            rows.append(Row("reviews/next (members), a claim each", "app", c, claimed, note="writes; no baseline"))
        return rows

    def _targets(self, seed: SeedInfo) -> list[Target]:
        r = self.results
        c = self.config.concurrency
        targets: list[Target] = []

        def ratio_target(name: str, app: LoadResult | None, base: LoadResult | None, floor: float) -> None:
            if app is None or base is None:
                targets.append(Target(name, None, "not measured"))
                return
            ratio = app.rps / base.rps if base.rps else 0.0
            figures = f"{ratio:.2f}x (app {app.rps:,.1f} req/s, baseline {base.rps:,.1f} req/s)"
            targets.append(Target(name, ratio >= floor, figures))

        ratio_target(
            "list with total >= 0.5x the baseline's list without a count",
            r.get("list", "app", c),
            r.get("list", "baseline", c),
            0.5,
        )
        totals = r.checks.get("totals")
        targets.append(
            Target(
                "totals exact for status/gender, plan and a date range",
                totals.ok if totals else None,
                totals.detail if totals else "not checked",
            )
        )
        ratio_target(
            "detail with presigned URLs >= 0.5x the baseline's detail",
            r.get("detail", "app", c),
            r.get("detail", "baseline", c),
            0.5,
        )
        for key, name in (
            ("presign_cost", "presigning under 50 us per URL"),
            ("presigned", "presigned URLs valid on the real S3 server"),
        ):
            check = r.checks.get(key)
            targets.append(Target(name, check.ok if check else None, check.detail if check else "not checked"))

        first, deep = r.get("list", "app", c), r.get("deep", "app", c)
        if first is not None and deep is not None and not (first.has_latency and deep.has_latency):
            targets.append(
                Target("deep cursor page p99 within 2x of the first page's", False, "latency longer than the window")
            )
        elif first is not None and deep is not None:
            targets.append(
                Target(
                    "deep cursor page p99 within 2x of the first page's",
                    deep.p99_ms <= 2 * first.p99_ms,
                    f"deep p99 {deep.p99_ms:.1f} ms vs first page p99 {first.p99_ms:.1f} ms "
                    f"({deep.p99_ms / first.p99_ms:.2f}x)",
                )
            )
        else:
            targets.append(Target("deep cursor page p99 within 2x of the first page's", None, "not measured"))

        targets.append(self._loader_target())
        targets.append(self._queue_target())

        dash1 = r.get("dashboard", "app", 1)
        targets.append(
            Target(
                "dashboard p50 under 10 ms at concurrency 1",
                dash1.has_latency and dash1.p50_ms < 10 if dash1 else None,
                (f"p50 {dash1.p50_ms:.1f} ms" if dash1.has_latency else "latency longer than the window")
                if dash1
                else "not measured",
            )
        )
        dashboard = r.checks.get("dashboard")
        targets.append(
            Target("dashboard exact", dashboard.ok if dashboard else None, dashboard.detail if dashboard else "-")
        )
        dash, seven = r.get("dashboard", "app", c), r.get("seven counts", "baseline", c)
        if dash is not None and seven is not None and seven.rps > 0:
            factor = dash.rps / seven.rps
            targets.append(
                Target(
                    "dashboard >= 50x the throughput of seven count queries gathered",
                    factor >= 50,
                    f"{factor:.1f}x (app {dash.rps:,.1f} req/s, seven gathered {seven.rps:,.1f} req/s, c={c})",
                )
            )
        else:
            targets.append(Target("dashboard >= 50x the throughput of seven gathered counts", None, "not measured"))

        app_loads = {key: value for key, value in r.loads.items() if key[1] == "app"}
        if app_loads:
            wide = [
                f"{name} c={conc} ({res.p99_ms / res.p50_ms:.1f}x)"
                for (name, _server, conc), res in app_loads.items()
                if res.has_latency and res.p99_ms >= 5 * res.p50_ms
            ]
            wide += [
                f"{name} c={conc} (latency longer than the window)"
                for (name, _s, conc), res in app_loads.items()
                if not res.has_latency
            ]
            targets.append(
                Target(
                    "p99 under 5x p50 for every endpoint",
                    not wide,
                    "all within 5x" if not wide else "over: " + ", ".join(wide),
                )
            )
            failing = [f"{name} c={conc}: {res.errors:,}" for (name, _s, conc), res in app_loads.items() if res.errors]
            base_errors = sum(res.errors for (_n, server, _c), res in r.loads.items() if server == "baseline")
            targets.append(
                Target(
                    "zero errors",
                    not failing,
                    ("none from the app" if not failing else "; ".join(failing)) + f" (baseline: {base_errors:,})",
                )
            )
        export = r.exports.get("app")
        if export is None or not export.available:
            reason = "not measured" if export is None else f"the app has no CSV export ({export.status})"
            targets.append(Target("CSV export >= 100,000 rows/s", None, reason))
            targets.append(Target("app peak memory under 250 MB during the export", None, reason))
        else:
            targets.append(
                Target(
                    "CSV export >= 100,000 rows/s",
                    export.complete and export.rows_per_second >= 100_000,
                    f"{export.rows_per_second:,.0f} rows/s ({export.rows:,} rows in {export.seconds:.1f} s"
                    f"{'' if export.complete else ', incomplete'})",
                )
            )
            peak = export.peak_rss_mb or 0.0
            lifetime = r.lifetime_rss_mb
            targets.append(
                Target(
                    "app peak memory under 250 MB during the export",
                    peak < 250,
                    f"{peak:.0f} MB peak RSS during the export"
                    + (f"; {lifetime:.0f} MB VmHWM over the whole run" if lifetime else ""),
                )
            )
        bulk_name = f"a bulk of {bulk.SIZE} approvals under {bulk.TARGET_SECONDS:g} s (issue 13)"
        if r.bulk is None:
            targets.append(Target(bulk_name, None, "not measured"))
        else:
            in_time = r.bulk.all_ok and r.bulk.worst < bulk.TARGET_SECONDS
            targets.append(Target(bulk_name, in_time, f"worst {r.bulk.worst:.2f} s; {r.bulk.detail}"))
        targets += self._write_targets()
        claimed, double = r.get("reviews_next", "app", c), r.checks.get("claims")
        name = f"reviews/next at c={c}: 0 double claims (checked in SQL)"
        if claimed is None or double is None:
            targets.append(Target(name, None, "not measured"))
        else:
            figures = f"{claimed.rps:,.1f} req/s, p50 {claimed.p50_ms:.1f} ms, {claimed.errors} errors; {double.detail}"
            targets.append(Target(name, bool(double.ok) and claimed.errors == 0, figures))
        targets.extend(self._browser_targets())
        if seed.seconds is not None:
            origin = "this run" if seed.seeded_now else f"recorded {seed.when}"
            figures = f"{seed.seeded:,} members in {seed.seconds:.1f} s ({origin})"
            verdict = seed.seconds < 180 if seed.seeded >= 1_000_000 else None
            targets.append(Target("seed of 1M members under 3 minutes", verdict, figures))
        else:
            targets.append(Target("seed of 1M members under 3 minutes", None, "no seed time recorded for this root"))
        elapsed = time.monotonic() - self.started
        targets.append(
            Target(
                "the whole run under 15 minutes",
                elapsed < 900,
                f"{elapsed / 60:.1f} min{' (seeding included)' if seed.seeded_now else ''}",
            )
        )
        return targets

    def _write_targets(self) -> list[Target]:
        """Issue 16: each write >= 0.5x its baseline with p99 <= 5x p50 and no error; the outbox's two figures."""
        r, c = self.results, self.config.concurrency
        targets = []
        for scenario in writes.SCENARIOS:
            name = f"write {writes.LABELS[scenario]}: >= 0.5x the baseline, p99 <= 5x p50, 0 errors (issue 16)"
            app, base = r.get(f"write {scenario}", "app", c), r.get(f"write {scenario}", "baseline", c)
            if app is None or base is None or not app.has_latency:
                targets.append(Target(name, None if app is None or base is None else False, "not measured"))
                continue
            ratio = app.rps / base.rps if base.rps else 0.0
            spread = app.p99_ms / app.p50_ms if app.p50_ms else float("inf")
            figures = (
                f"{ratio:.2f}x (app {app.rps:,.0f} req/s, baseline {base.rps:,.0f} req/s); p50 {app.p50_ms:.1f} ms, "
                f"p99 {app.p99_ms:.1f} ms ({spread:.1f}x); {app.errors} errors (baseline {base.errors})"
            )
            targets.append(Target(name, ratio >= 0.5 and spread <= 5 and app.errors == 0, figures))
        rate_name = f"outbox delivery >= {delivery.RATE_TARGET:,} events/s to a local webhook receiver (issue 16)"
        latency_name = (
            f"outbox commit to delivery p99 < {delivery.LATENCY_TARGET_S:g} s at {delivery.DECISION_RATE} "
            "decisions/s (issue 16)"
        )
        if r.outbox is None:
            return [*targets, Target(rate_name, None, "not measured"), Target(latency_name, None, "not measured")]
        rate, latency = delivery.describe(r.outbox)
        return [*targets, Target(rate_name, r.outbox.rate_ok, rate), Target(latency_name, r.outbox.latency_ok, latency)]

    def _browser_rows(self) -> list[Row]:
        b = self.results.browser
        if b is None:
            return []
        figures = [
            ("console: login to the members list's first rows", b.login_ms, "fresh context each, nothing cached"),
            (
                "console: filter change to new rows",
                b.filter_ms,
                "a toggle to filters not asked for before, until its rows show",
            ),
            ("console: member detail with photos", b.detail_ms, "photos tab, until every photo is decoded"),
        ]
        return [
            Row(name, "app", 1, None, note=f"{b.describe(values)}; {note}", rate=f"{b.median(values):.0f} ms p50")
            for name, values, note in figures
        ]

    def _browser_targets(self) -> list[Target]:
        """Issue 14's console figures, in Chromium (bench/browser.py)."""
        b = self.results.browser
        names = (
            f"console: login to first rows under {browser.LOGIN_TARGET_MS:.0f} ms (p50)",
            f"console: filter change to new rows p95 under {browser.FILTER_P95_TARGET_MS:.0f} ms",
            f"console: member detail with photos under {browser.DETAIL_TARGET_MS:.0f} ms (p50)",
        )
        size_name = f"console: initial JavaScript at most {browser.INITIAL_JS_TARGET_BYTES // 1000} kB gzipped"
        size = b.initial_js_bytes if b is not None else browser.initial_javascript_bytes()
        size_target = Target(
            size_name,
            None if size is None else size <= browser.INITIAL_JS_TARGET_BYTES,
            "console not built" if size is None else f"{size:,} bytes",
        )
        if b is None:
            return [*(Target(name, None, "not measured") for name in names), size_target]
        measured = (
            (b.login_ms, b.median(b.login_ms) < browser.LOGIN_TARGET_MS),
            (b.filter_ms, b.p95(b.filter_ms) < browser.FILTER_P95_TARGET_MS),
            (b.detail_ms, b.median(b.detail_ms) < browser.DETAIL_TARGET_MS),
        )
        return [
            *(
                Target(name, ok if values else None, b.describe(values))
                for name, (values, ok) in zip(names, measured, strict=True)
            ),
            size_target,
        ]

    def _queue_target(self) -> Target:
        r = self.results
        c = self.config.concurrency
        name = "photo queue page p99 <= 2x the member list page's (issue 13)"
        listed, first, deep = (
            r.get("list", "app", c),
            r.get("photo queue", "app", c),
            r.get("photo queue, deep", "app", c),
        )
        check = r.checks.get("queue_total")
        if listed is None or first is None:
            return Target(name, None, "not measured")
        pages = [page for page in (first, deep) if page is not None]
        if not listed.has_latency or not all(page.has_latency for page in pages):
            return Target(name, False, "latency longer than the window")
        worst = max(page.p99_ms for page in pages)
        figures = (
            f"queue p99 {first.p99_ms:.1f} ms first page"
            + (f", {deep.p99_ms:.1f} ms deep" if deep is not None else "")
            + f" vs list p99 {listed.p99_ms:.1f} ms ({worst / listed.p99_ms:.2f}x); "
            + f"queue {first.rps:,.0f} req/s; total {check.detail if check else 'not checked'}"
        )
        return Target(name, worst <= 2 * listed.p99_ms and (check is None or check.ok), figures)

    def _loader_target(self) -> Target:
        r = self.results
        name = "loader measured three ways; the app's default is the fastest measured"
        figures = []
        verdict: bool | None = None
        for conc in (1, self.config.concurrency):
            measured = {way: r.get(f"loader {way}", "baseline", conc) for way in LOADER_WAYS}
            three = {way: m for way, m in measured.items() if way != "default" and m is not None}
            if not three:
                continue
            fastest = max(three, key=lambda way: three[way].rps)
            parts = [f"{way} {m.rps:,.0f} req/s p50 {m.p50_ms:.1f} ms" for way, m in measured.items() if m]
            figures.append(f"c={conc}: " + ", ".join(parts) + f"; fastest of three: {fastest}")
            default = measured.get("default")
            if conc == self.config.concurrency and default is not None:
                verdict = default.rps >= 0.9 * three[fastest].rps
        if not figures:
            return Target(name, None, "not measured")
        return Target(name, verdict, " | ".join(figures) + " (default within 10% of the fastest at full load)")

    def _machine_load(self) -> str:
        if not self.others_busy:
            return "Other processes' CPU use was not sampled."
        mean, peak = sum(self.others_busy) / len(self.others_busy), max(self.others_busy)
        text = f"CPU used by other processes just before each row: {mean:.0%} on average, up to {peak:.0%}."
        if mean > 0.1:
            text += " Other processes were using the machine: figures are lower and noisier than on an idle one."
        return text

    def _report(self, seed: SeedInfo, samples: Samples, wrk: str | None) -> str:
        config = self.config
        preamble = [
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, revision {_git_revision()}, {os.cpu_count()} CPU "
            f"({_cpu_model()}), Python {platform.python_version()}.",
            f"{seed.members:,} members; load by {self.tool}"
            f"{' (' + wrk + ')' if wrk else ''}, {config.warmup:g} s warm-up + {config.duration:g} s per row; "
            f"app `memberdesk serve --workers {config.workers}` (ENVIRONMENT=production), baseline "
            f"bench/baseline.py under uvicorn --workers {config.workers}; reads on the streaming replica.",
            f"Inputs: {len(samples.member_ids):,} random member ids, {len(samples.q_terms)} q terms, "
            f"{len(samples.deep_after)} deep keyset positions. Errors = non-2xx + socket errors; "
            "'vs baseline' = app req/s / baseline req/s of the same request (list pages: baseline without a count).",
            self._machine_load(),
        ]
        title = f"make bench: Memberdesk at {seed.members:,} members (issue 6)"
        return render(title, preamble, self._rows(), self._targets(seed))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("devtools.services").setLevel(logging.INFO)
    raise_on_sigterm()
    config = BenchConfig.from_env()
    bench = Bench(config)
    try:
        report = bench.run()
    except KeyboardInterrupt:
        print("\nmake bench: interrupted; every process it started is stopped.", file=sys.stderr)
        raise SystemExit(130) from None
    growth_section, _targets = growth.section(config.results_dir)
    report = f"{report}\n{growth_section}" if growth_section else report
    print()
    print(report)
    config.results_dir.mkdir(parents=True, exist_ok=True)
    latest = config.results_dir / "latest.md"
    latest.write_text(report)
    print(f"Written to {latest.relative_to(PROJECT_ROOT)}")
