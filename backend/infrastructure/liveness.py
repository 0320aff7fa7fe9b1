"""Which process this is, in a form another process can check later: whether the process that claimed something is
surely gone (killed, exited), so that whoever waits for it need not wait out a timeout.

An identity names the machine's boot, the PID namespace, the PID and the process's start time (Linux's /proc): a
process of the same boot and namespace can tell for sure that it no longer runs (no such PID, or the PID now belongs
to a process started later). Anywhere else (another machine or container, no /proc) nothing is known, and nothing is
said to be gone.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

_PROC = Path("/proc")


@lru_cache(maxsize=1)
def _where() -> str | None:
    """This boot and PID namespace, or None without /proc."""
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat(_PROC / "self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _started(pid: int) -> str | None:
    """When the process `pid` started (clock ticks since boot), or None when no such process runs (none, or one
    that has ended and waits for its parent to collect it: a killed worker until its supervisor notices)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) is in parentheses and may hold spaces: the fields after the last ")" start at
    # the 3rd, the state; the start time is the 22nd.
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def this_process() -> str | None:
    """This process's identity, or None where it could not be checked by another process."""
    return _identity(os.getpid())  # by PID: a forked worker is a process of its own


@lru_cache(maxsize=4)
def _identity(pid: int) -> str | None:
    where = _where()
    started = _started(pid)
    if where is None or started is None:
        return None
    return f"{where} {pid} {started}"


def surely_gone(identity: str) -> bool:
    """Whether the process `identity` names has ended for sure: of this boot and PID namespace, and its PID free or
    taken by a later process. False when it may still run, or when nothing can be known (another machine)."""
    where, _, rest = identity.partition(" ")
    pid, _, started = rest.partition(" ")
    if where != _where() or not pid.isdigit() or not started:
        return False
    return _started(int(pid)) != started
