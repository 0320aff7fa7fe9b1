"""The one table of the run and the list of issue 6's targets, as Markdown (printed, and written to bench/results/)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.loadgen import LoadResult


@dataclass
class Row:
    """One line of the table: a load result, or a figure measured otherwise (export)."""

    endpoint: str
    server: str
    concurrency: int
    result: LoadResult | None
    ratio: float | None = None
    note: str = ""
    rate: str | None = None
    """Replaces req/s when the figure is of another kind (rows/s for the export)."""


@dataclass(frozen=True)
class Target:
    name: str
    ok: bool | None
    figures: str


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(rows: Sequence[Row]) -> str:
    head = ["endpoint", "server", "conc", "req/s", "p50 ms", "p99 ms", "errors", "vs baseline", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for row in rows:
        result = row.result
        note = row.note
        if result is not None and result.requests == 0:
            rate, cells = "0", ["-", "-", f"{result.errors:,}"]
            note = f"no request completed in {result.seconds:.0f} s" + (f"; {note}" if note else "")
        elif result is not None and not result.has_latency:
            rate, cells = row.rate or _number(result.rps), ["-", "-", f"{result.errors:,}"]
            note = "every request took longer than the window" + (f"; {note}" if note else "")
        elif result is not None:
            rate = row.rate or _number(result.rps)
            cells = [_number(result.p50_ms), _number(result.p99_ms), f"{result.errors:,}"]
        else:
            rate = row.rate or "-"
            cells = ["-", "-", "-"]
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        lines.append(
            "| " + " | ".join([row.endpoint, row.server, str(row.concurrency), rate, *cells, ratio, note]) + " |"
        )
    return "\n".join(lines)


def render_targets(targets: Sequence[Target]) -> str:
    marks = {True: "met", False: "NOT met", None: "n/a"}
    return "\n".join(f"- **{marks[t.ok]}**: {t.name}: {t.figures}" for t in targets)


def render(title: str, preamble: Sequence[str], rows: Sequence[Row], targets: Sequence[Target]) -> str:
    met = sum(1 for t in targets if t.ok is True)
    missed = sum(1 for t in targets if t.ok is False)
    return "\n".join(
        [
            f"# {title}",
            "",
            *preamble,
            "",
            render_table(rows),
            "",
            f"## Targets of issue 6: {met} met, {missed} not met, {len(targets) - met - missed} not measurable",
            "",
            render_targets(targets),
            "",
        ]
    )
