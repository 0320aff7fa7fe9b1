"""A process's identity, and whether the process it names is surely gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.infrastructure import liveness
from tests.factories import PRINT_PROCESS_IDENTITY, exited_process_identity


def _this_process() -> str:
    identity = liveness.this_process()
    assert identity is not None
    return identity


def test_this_process_is_not_gone() -> None:
    identity = _this_process()
    assert str(os.getpid()) in identity.split()
    assert not liveness.surely_gone(identity)


def test_a_process_that_exited_is_gone() -> None:
    identity = exited_process_identity()
    assert identity.split()[0] == _this_process().split()[0]  # the same machine and PID namespace
    assert liveness.surely_gone(identity)


def test_a_process_killed_but_not_yet_collected_is_gone() -> None:
    """A killed worker stays a zombie until its supervisor collects it: it runs no more, so it is gone."""
    with subprocess.Popen([sys.executable, "-c", PRINT_PROCESS_IDENTITY], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        identity = child.stdout.read().strip()  # to the end of its output: it is ending
        stat = Path("/proc") / str(child.pid) / "stat"
        deadline = time.monotonic() + 5
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":  # ended, not collected (no wait() yet)
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert liveness.surely_gone(identity)


def test_a_pid_taken_by_a_later_process_is_gone() -> None:
    """The PID is this process's, but the start time is not: the named process ended and its PID was reused."""
    where, pid, started = _this_process().split()
    assert liveness.surely_gone(f"{where} {pid} {int(started) - 1}")


@pytest.mark.parametrize(
    "identity",
    [
        "another-boot/4026531836 1 100",  # another machine or container: nothing is known
        "",
        "garbage",
        "{where} notapid 100",
        "{where} 1",
    ],
)
def test_what_cannot_be_checked_is_not_gone(identity: str) -> None:
    where = _this_process().split()[0]
    assert not liveness.surely_gone(identity.format(where=where))
