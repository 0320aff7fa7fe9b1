"""The benchmark's knobs, read from BENCH_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class BenchConfig:
    """Where the run keeps its data and how long and hard it drives each endpoint."""

    root: Path
    results_dir: Path
    members: int
    duration: float
    warmup: float
    concurrency: int
    workers: int
    export_timeout: float
    writes: int
    """Distinct requests prepared for each write load (BENCH_WRITES): more than a server sends in its window."""
    only: frozenset[str]
    """Scenario names (or prefixes) to run; empty runs everything (BENCH_ONLY=list,detail for a quick look)."""

    @classmethod
    def from_env(cls) -> BenchConfig:
        """BENCH_ROOT, BENCH_MEMBERS, BENCH_DURATION, BENCH_WARMUP, BENCH_CONCURRENCY, BENCH_WORKERS, BENCH_ONLY."""
        only = {part.strip() for part in os.environ.get("BENCH_ONLY", "").split(",") if part.strip()}
        return cls(
            root=Path(os.environ.get("BENCH_ROOT", PROJECT_ROOT / ".devdata" / "bench")).resolve(),
            results_dir=BENCH_DIR / "results",
            members=_int("BENCH_MEMBERS", 1_000_000),
            duration=_float("BENCH_DURATION", 10.0),
            warmup=_float("BENCH_WARMUP", 2.0),
            concurrency=_int("BENCH_CONCURRENCY", 32),
            workers=_int("BENCH_WORKERS", 2),
            export_timeout=_float("BENCH_EXPORT_TIMEOUT", 180.0),
            writes=_int("BENCH_WRITES", 20_000),
            only=frozenset(only),
        )

    def wants(self, scenario: str) -> bool:
        """Whether BENCH_ONLY selects `scenario` (every scenario when it is empty)."""
        return not self.only or any(scenario == name or scenario.startswith(name) for name in self.only)
