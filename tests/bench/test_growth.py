"""bench/growth.py: a run saves the figures of the reads it measured, and only those runs overwrite a size's file."""

from __future__ import annotations

import json
from pathlib import Path

from bench import growth
from bench.dataset import SeedInfo
from bench.loadgen import LoadResult

SEED = SeedInfo(members=1_000_000, seeded_now=False, seconds=120.0, when=None)


def _load(p50: float) -> LoadResult:
    return LoadResult(requests=1000, seconds=10.0, p50_ms=p50, p99_ms=p50 * 3, non2xx=0, socket_errors=0, tool="wrk")


def test_a_run_without_the_compared_reads_keeps_the_saved_figures(tmp_path: Path) -> None:
    saved = growth.save(tmp_path, SEED.members, SEED, {("list", "app", 32): _load(90.0)}, 32, "abc", [])
    assert saved is not None
    assert json.loads(saved.read_text())["loads"]["list with total"]["p50_ms"] == 90.0
    # BENCH_ONLY=bulk: none of the compared reads ran.
    assert growth.save(tmp_path, SEED.members, SEED, {("bulk", "app", 1): _load(5.0)}, 32, "def", []) is None
    assert json.loads(saved.read_text())["revision"] == "abc"


def test_a_read_with_errors_meets_no_target(tmp_path: Path) -> None:
    base = growth.save(tmp_path, 1_000_000, SEED, {("dashboard", "app", 32): _load(10.0)}, 32, "abc", [])
    failing = LoadResult(requests=1000, seconds=10.0, p50_ms=5.0, p99_ms=9.0, non2xx=40, socket_errors=0, tool="wrk")
    grown = growth.save(tmp_path, 5_000_000, SEED, {("dashboard", "app", 32): failing}, 32, "abc", [])
    assert base is not None
    assert grown is not None
    _table, targets = growth.render(growth.Figures.read(base), growth.Figures.read(grown))
    assert [(target.ok, target.figures) for target in targets] == [(False, "p50 0.50x, req/s 1.00x, 40 errors")]
