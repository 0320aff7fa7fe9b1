"""Optional py-spy profiles of the app under load (BENCH_PROFILE=list,detail): collapsed stacks and a summary.

py-spy is not a project dependency; install it yourself (e.g. `uv pip install --python .venv/bin/python py-spy`).
A profile costs the app some CPU, so profiled runs are not the ones whose figures go into the table: each
profiled scenario is driven once more after the measured run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def find_py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.is_file():
        return str(beside)
    return shutil.which("py-spy")


def start(py_spy: str, pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Record `pid` (and its worker processes) for `seconds` into `output` (collapsed stacks, one per line)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _frame_name(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)" keeps the summary short and groups by function.
    name, _, location = frame.partition(" (")
    file = location.rsplit(":", 1)[0].rsplit("/", 1)[-1].rstrip(")")
    return f"{name} ({file})" if file else name


IDLE_LEAVES = frozenset({"Condition.wait (threading.py)", "Runner.run (runners.py)", "_worker (thread.py)"})
"""Leaf frames of a thread that waits (thread pool workers, the event loop polling): left out of the shares."""


def summarize(collapsed: Path, top: int = 25) -> str:
    """Self and inclusive shares per function of the busy samples of a py-spy raw profile."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # py-spy --subprocesses adds a frame per process (and the worker's command line): not functions.
        frames = [
            _frame_name(frame)
            for frame in stack.split(";")
            if not frame.startswith("process ") and "spawn_main(" not in frame
        ]
        if not frames or frames[-1] in IDLE_LEAVES:
            idle += count
            continue
        total += count
        self_counts[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if total == 0:
        return "(no samples)"
    lines = [f"{total:,} busy samples ({idle:,} idle ones left out)", "", "self %  function"]
    lines += [f"{100 * n / total:6.1f}  {name}" for name, n in self_counts.most_common(top)]
    lines += ["", "incl %  function"]
    lines += [f"{100 * n / total:6.1f}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)
