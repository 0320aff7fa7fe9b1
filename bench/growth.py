"""Issue 16's growth check: the read figures of a run at 1M members against a run at 5M (or any larger size).

Each run saves its figures for these endpoints to bench/results/growth-<members>.json; when a file of 1M and one
of a larger size are both there, the report gets a table comparing them, the targets (each figure within
GROWTH_LIMIT of its 1M value: p50 at most 1.3 times, req/s at least 1/1.3 of it) and a picture, growth.png.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.dataset import SeedInfo
from bench.loadgen import LoadResult
from bench.report import Target, render_targets

BASE_MEMBERS = 1_000_000
GROWTH_LIMIT = 1.3
ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("list with total", "list"),
    ("deep page", "deep"),
    ("search", "q"),
    ("detail", "detail"),
    ("dashboard", "dashboard"),
    ("photo queue", "photo queue"),
)
"""(label, load name) of the app's loads compared, each at the run's concurrency."""


@dataclass(frozen=True)
class Figures:
    members: int
    when: str
    revision: str
    load_average: tuple[float, float, float]
    seed_seconds: float | None
    seeded: int
    loads: dict[str, dict[str, float]]
    """label -> rps, p50_ms, p99_ms, errors."""
    others_busy: float = 0.0
    """The mean share of the CPUs that other processes kept busy just before each load."""

    @classmethod
    def read(cls, path: Path) -> Figures:
        raw: dict[str, Any] = json.loads(path.read_text())
        raw["load_average"] = tuple(raw["load_average"])
        return cls(**raw)


def figures_path(results_dir: Path, members: int) -> Path:
    return results_dir / f"growth-{members}.json"


def save(
    results_dir: Path,
    members: int,
    seed: SeedInfo,
    loads: Mapping[tuple[str, str, int], LoadResult],
    concurrency: int,
    revision: str,
    others_busy: list[float],
) -> Path | None:
    """Write this run's figures for the compared endpoints (those it measured); a run that measured none of them
    (BENCH_ONLY=bulk, say) leaves the saved figures of its size as they are."""
    measured: dict[str, dict[str, float]] = {}
    for label, name in ENDPOINTS:
        result = loads.get((name, "app", concurrency))
        if result is not None and result.has_latency:
            measured[label] = {
                "rps": result.rps,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "errors": float(result.errors),
            }
    if not measured:
        return None
    figures = Figures(
        members=members,
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        revision=revision,
        load_average=os.getloadavg(),
        seed_seconds=seed.seconds,
        seeded=seed.seeded,
        loads=measured,
        others_busy=sum(others_busy) / len(others_busy) if others_busy else 0.0,
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    path = figures_path(results_dir, members)
    path.write_text(json.dumps(figures.__dict__, indent=2) + "\n")
    return path


def _ratio_cells(base: Mapping[str, float], grown: Mapping[str, float]) -> tuple[float, float]:
    """(p50 growth, req/s drop): each 1.0 when flat, above 1.0 when the larger database is slower."""
    p50 = grown["p50_ms"] / base["p50_ms"] if base["p50_ms"] > 0 else float("inf")
    rps = base["rps"] / grown["rps"] if grown["rps"] > 0 else float("inf")
    return p50, rps


def pair(results_dir: Path) -> tuple[Figures, Figures] | None:
    """The 1M figures and the largest run's above them, when both were saved."""
    base_path = figures_path(results_dir, BASE_MEMBERS)
    larger = sorted(
        (path for path in results_dir.glob("growth-*.json") if path != base_path),
        key=lambda path: int(path.stem.split("-", 1)[1]),
    )
    larger = [path for path in larger if int(path.stem.split("-", 1)[1]) > BASE_MEMBERS]
    if not base_path.exists() or not larger:
        return None
    return Figures.read(base_path), Figures.read(larger[-1])


def _millions(members: int) -> str:
    return f"{members / 1_000_000:g}M"


def render(base: Figures, grown: Figures) -> tuple[str, list[Target]]:
    """The comparison table (Markdown) and one target per endpoint: (name, met, figures)."""
    b, g = _millions(base.members), _millions(grown.members)
    head = ["endpoint", f"{b} req/s", f"{g} req/s", f"{b} p50 ms", f"{g} p50 ms", f"{b} p99 ms", f"{g} p99 ms"]
    head += ["p50 growth", "req/s drop"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    targets: list[Target] = []
    for label, _name in ENDPOINTS:
        one, other = base.loads.get(label), grown.loads.get(label)
        if one is None or other is None:
            continue
        p50, drop = _ratio_cells(one, other)
        lines.append(
            f"| {label} | {one['rps']:,.0f} | {other['rps']:,.0f} | {one['p50_ms']:.1f} | {other['p50_ms']:.1f} | "
            f"{one['p99_ms']:.1f} | {other['p99_ms']:.1f} | {p50:.2f}x | {drop:.2f}x |"
        )
        # A load that had errors measured how fast they came back, not the read: no target is met on it.
        errors = int(one.get("errors", 0) + other.get("errors", 0))
        targets.append(
            Target(
                f"{label} at {g} within {GROWTH_LIMIT}x of {b}",
                p50 <= GROWTH_LIMIT and drop <= GROWTH_LIMIT and errors == 0,
                f"p50 {p50:.2f}x, req/s {drop:.2f}x" + (f", {errors:,} errors" if errors else ""),
            )
        )
    return "\n".join(lines), targets


def describe(figures: Figures) -> str:
    seed = f"seed {figures.seed_seconds:.0f} s for {figures.seeded:,}" if figures.seed_seconds else "seed not timed"
    load = ", ".join(f"{x:.1f}" for x in figures.load_average)
    return (
        f"{_millions(figures.members)}: {figures.when}, {figures.revision}, {seed}; other processes kept"
        f" {figures.others_busy:.0%} of the CPUs busy before the loads, load average {load} at the end"
    )


def draw(base: Figures, grown: Figures, path: Path) -> Path:
    """Bars of req/s and p50 per endpoint, the 1M run beside the larger one (matplotlib, written as PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for label, _name in ENDPOINTS if label in base.loads and label in grown.loads]
    x = range(len(labels))
    width = 0.38
    figure, (rps_axes, p50_axes) = plt.subplots(1, 2, figsize=(12, 4.5))
    for axes, key, title in ((rps_axes, "rps", "requests/s (higher is better)"), (p50_axes, "p50_ms", "p50 ms")):
        for shift, figures in ((-width / 2, base), (width / 2, grown)):
            axes.bar(
                [i + shift for i in x],
                [figures.loads[label][key] for label in labels],
                width,
                label=f"{_millions(figures.members)} members",
            )
        axes.set_title(title)
        axes.set_xticks(list(x), labels, rotation=25, ha="right")
        axes.legend()
    limits = [base.loads[label]["p50_ms"] * GROWTH_LIMIT for label in labels]
    p50_axes.scatter([i + width / 2 for i in x], limits, marker="_", s=400, color="black", label="1.3x of 1M")
    p50_axes.legend()
    figure.suptitle(f"Memberdesk reads at {_millions(base.members)} and {_millions(grown.members)} members")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def section(results_dir: Path) -> tuple[str, list[Target]]:
    """The report's growth section with its targets ('' and none until both runs are there)."""
    found = pair(results_dir)
    if found is None:
        return "", []
    base, grown = found
    table, targets = render(base, grown)
    picture = draw(base, grown, results_dir / "growth.png")
    text = "\n".join(
        [
            f"## Growth: {_millions(base.members)} against {_millions(grown.members)} members (issue 16)",
            "",
            f"- {describe(base)}",
            f"- {describe(grown)}",
            "",
            table,
            "",
            f"Picture: {picture.name}",
            "",
            f"### Targets of issue 16 (growth): {sum(t.ok is True for t in targets)} met of {len(targets)}",
            "",
            render_targets(targets),
            "",
        ]
    )
    return text, targets


def main() -> None:
    """`python -m bench.growth`: the section again from the saved figures (no run)."""
    from bench.config import BENCH_DIR

    text, _targets = section(BENCH_DIR / "results")
    print(text or "no pair of runs saved yet (a 1M run and a larger one)")


if __name__ == "__main__":
    main()
