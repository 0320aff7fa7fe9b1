"""What `make chaos` saw, per fault and per second: the table (bench/results/chaos.md) and the picture (chaos.png).

A request *failed* when it got no 2xx and the answer was not a plain refusal of the request itself (a 412 for a
stale If-Match, a 409 for a member already decided by someone else): a 503, a 429, a 409 asking to retry, a 500,
a dropped connection, a timeout. Allowed: a 503 with Retry-After, a 429, a 409 with Retry-After (an idempotent
first attempt still running), and, only while a worker is killed, a dropped connection (the process that held it
is gone). Anything else fails the run: a 500, a 503 without Retry-After, a client timeout.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.chaos.faults import Window
from bench.chaos.load import CLIENT_TIMEOUT_SECONDS, Attempt
from bench.chaos.verify import Check

FAILED = frozenset({"503", "503-bare", "429", "409-retry", "500", "502", "504", "reset", "timeout"})
ALLOWED = frozenset({"503", "429", "409-retry"})


@dataclass
class FaultRow:
    window: Window
    requests: int
    failed: Counter[str] = field(default_factory=Counter)
    worst_ms: float = 0.0
    recovery_s: float = 0.0
    bad: list[str] = field(default_factory=list)
    allowed: frozenset[str] = ALLOWED

    @property
    def ok(self) -> bool:
        return not self.bad


def _percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def fault_rows(
    windows: Sequence[Window], attempts: Sequence[Attempt], deliveries: Sequence[tuple[float, float]], load_end: float
) -> list[FaultRow]:
    """One row per fault, over the requests that ended from its beginning to the next fault's (a retry goes with
    the first failure of its write: a write that failed in one fault and was retried into the next is the first's).

    `deliveries` are (committed, delivered) run seconds of the outbox events: recovery waits for the events
    committed during the fault too.
    """
    rows = []
    windows = [Window("warm-up", "none (the warm-up)", 0.0, 0.0), *windows]
    for i, window in enumerate(windows):
        until = windows[i + 1].begin if i + 1 < len(windows) else load_end
        mine = [a for a in attempts if window.begin <= a.caused_at < until]
        row = FaultRow(window, len(mine))
        row.failed.update(a.kind for a in mine if a.kind in FAILED)
        row.worst_ms = max((a.seconds for a in mine), default=0.0) * 1000
        last_failure = max((a.ended for a in mine if a.kind in FAILED), default=window.end)
        last_delivery = max((d for c, d in deliveries if window.begin <= c <= window.end), default=window.end)
        row.recovery_s = max(0.0, last_failure - window.end, last_delivery - window.end)
        row.allowed = ALLOWED | ({"reset"} if window.name == "kill-worker" else set())
        if window.name == "warm-up":
            row.allowed, row.recovery_s = frozenset(), 0.0
        row.bad = [f"{n} {kind}" for kind, n in sorted(row.failed.items()) if kind not in row.allowed]
        slow = sum(1 for a in mine if a.seconds >= CLIENT_TIMEOUT_SECONDS)
        if slow and "timeout" not in row.failed:
            row.bad.append(f"{slow} past the client's timeout")
        rows.append(row)
    return rows


def _failed_text(row: FaultRow) -> str:
    if not row.failed:
        return "none"
    return ", ".join(f"{n} {kind}" for kind, n in sorted(row.failed.items(), key=lambda kv: -kv[1]))


def render(
    rows: Sequence[FaultRow],
    checks: Sequence[Check],
    attempts: Sequence[Attempt],
    header: Sequence[str],
    load_end: float,
) -> str:
    """The markdown report: the setup, a row per fault, the totals and the checks."""
    ok_all = all(r.ok for r in rows) and all(c.ok for c in checks)
    answered = [a for a in attempts if a.status is not None]
    lines = [
        "# make chaos",
        "",
        *header,
        "",
        f"**{'PASSED' if ok_all else 'FAILED'}**: {len(attempts):,} requests in {load_end:.0f} s"
        f" ({len(attempts) / max(load_end, 1):.0f} req/s), {sum(1 for a in attempts if a.kind in FAILED)} failed"
        f" ({sum(n for row in rows for kind, n in row.failed.items() if kind not in row.allowed)} not allowed),"
        f" p50 {_percentile([a.seconds for a in answered], 50) * 1000:.0f} ms,"
        f" p99 {_percentile([a.seconds for a in answered], 99) * 1000:.0f} ms.",
        "",
        "| fault | at | lasted | requests | failed (how) | worst latency | recovery | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        w = row.window
        verdict = "ok" if row.ok else "**" + "; ".join(row.bad) + "**"
        lines.append(
            f"| {w.label} | {w.begin:.0f} s | {w.end - w.begin:.1f} s | {row.requests:,} | {_failed_text(row)} |"
            f" {row.worst_ms:,.0f} ms | {row.recovery_s:.1f} s | {verdict} |"
        )
    lines += ["", "| check | | |", "| --- | --- | --- |"]
    lines += [f"| {c.name} | {'ok' if c.ok else '**FAILED**'} | {c.detail} |" for c in checks]
    lines += [
        "",
        "Failed: `503` with Retry-After, `429`, `409-retry` (an idempotent first attempt still running, with"
        " Retry-After) are allowed; `reset` (connection dropped) only while a worker is killed; `500`,"
        " `503-bare` (no Retry-After) and `timeout` (no answer within"
        f" {CLIENT_TIMEOUT_SECONDS:.0f} s) fail the run. Recovery: from the fault's end to its last failed"
        " request's end, or to the delivery of the last outbox event committed during it, whichever is later.",
        "",
        "![make chaos](chaos.png)",
        "",
    ]
    return "\n".join(lines)


def draw(path: Path, attempts: Sequence[Attempt], windows: Sequence[Window], load_end: float) -> None:
    """Requests per second, failures per second and p99 per second, with each fault shaded from begin to end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = max(1, math.ceil(load_end))
    ok = [0] * seconds
    failed = [0] * seconds
    latencies: list[list[float]] = [[] for _ in range(seconds)]
    for a in attempts:
        slot = min(seconds - 1, int(a.at + a.seconds))
        if a.kind in FAILED:
            failed[slot] += 1
        elif a.status is not None:
            ok[slot] += 1
        latencies[min(seconds - 1, int(a.at))].append(a.seconds * 1000)
    p99 = [_percentile(values, 99) if values else float("nan") for values in latencies]
    xs = list(range(seconds))

    fig, (top, middle, bottom) = plt.subplots(3, 1, sharex=True, figsize=(12, 7.5), height_ratios=[3, 2, 2])
    top.plot(xs, ok, color="#2a6fb0", linewidth=1)
    top.set_ylabel("answered req/s")
    middle.bar(xs, failed, width=1.0, color="#c0392b")
    middle.set_ylabel("failed req/s")
    bottom.plot(xs, p99, color="#7d3c98", linewidth=1)
    bottom.set_yscale("log")
    bottom.set_ylabel("p99 ms")
    bottom.set_xlabel("seconds into the run")
    colours = ["#f5b041", "#58d68d", "#5dade2", "#af7ac5", "#ec7063", "#48c9b0", "#f4d03f", "#eb984e"]
    for i, w in enumerate(windows):
        colour = colours[i % len(colours)]
        for axis in (top, middle, bottom):
            if w.end - w.begin < 1:
                axis.axvline(w.begin, color=colour, linewidth=2)
            else:
                axis.axvspan(w.begin, w.end, color=colour, alpha=0.25, linewidth=0)
        top.annotate(
            w.name,
            xy=(w.begin, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -4 - 11 * (i % 2)),
            textcoords="offset points",
            fontsize=8,
            va="top",
        )
    top.set_title("make chaos: the API under load while its servers fail (shaded: each fault, begin to end)")
    for axis in (top, middle, bottom):
        axis.grid(alpha=0.3)
        axis.set_xlim(0, seconds)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
