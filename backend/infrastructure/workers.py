"""`memberdesk serve --workers N`: N uvicorn processes, each listening on a socket of its own (SO_REUSEPORT).

uvicorn's own supervisor gives every worker the same listening socket, and whichever worker wakes first takes
the next connection. Keep-alive connections opened in a burst (a client's pool, a proxy's upstream pool) then
land unevenly and stay there: measured here, 32 connections split about 1:2 between two workers, and under
CPU-bound work (argon2 logins) the clients of the busier worker waited five times as long as the others. With
a socket per worker, the kernel spreads new connections over the workers by their addresses (measured: even
to within one connection), whatever each worker is doing when they arrive.

The supervisor starts the workers, starts a worker again when one dies, and on SIGINT, SIGTERM or SIGHUP asks
every worker to shut down gracefully (SIGTERM), killing the ones still running after the grace period. The
workers run in a process group of their own, so that Ctrl-C in a terminal reaches them once, through the
supervisor, and each leaves by itself if the supervisor is gone. A worker whose app fails to start ends the
whole command with uvicorn's start-up failure status (3), as does one that dies within its first seconds,
rather than being started again forever.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

logger = logging.getLogger("memberdesk.workers")

STARTUP_FAILURE = 3  # uvicorn's exit status for an app that failed to start
SHUTDOWN_GRACE_SECONDS = 30.0
SUPERVISOR_CHECK_SECONDS = 0.5
MIN_WORKER_LIFE_SECONDS = 5.0  # a worker gone sooner failed at start-up
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def uvicorn_options() -> dict[str, Any]:
    """How the app is served, one worker or several."""
    return {
        "factory": True,
        "proxy_headers": True,
        "access_log": False,
        "server_header": False,  # no "server: uvicorn" on every answer
        "log_config": None,  # the app configures logging (JSON lines) in every worker
    }


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket listening on host:port (IPv6 when the host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_workers(app: str, host: str, port: int, count: int) -> int:
    """Serve `app` from `count` worker processes until a stop signal; the exit status for the command."""
    # A plain bind first: SO_REUSEPORT would let the workers join another server already on the port.
    try:
        listening_socket(host, port, reuse_port=False).close()
    except OSError as exc:
        logger.error("cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        return 1
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, request_stop)

    started: dict[int, float] = {}

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(app, host, port, os.getpid()), name="memberdesk-worker")
        process.start()
        started[id(process)] = time.monotonic()
        return process

    workers = [start() for _ in range(count)]
    logger.info("serving on http://%s:%d with %d workers (pids %s)", host, port, count, [w.pid for w in workers])
    status = 0
    while not stop.wait(SUPERVISOR_CHECK_SECONDS):
        for index, worker in enumerate(workers):
            if worker.is_alive():
                continue
            lived = time.monotonic() - started.pop(id(worker))
            if worker.exitcode == STARTUP_FAILURE or lived < MIN_WORKER_LIFE_SECONDS:
                # Starting it again would fail the same way, over and over.
                logger.error("worker %s failed at start-up (status %s); stopping", worker.pid, worker.exitcode)
                status = STARTUP_FAILURE
                stop.set()
                break
            logger.warning("worker %s exited (status %s); starting another", worker.pid, worker.exitcode)
            workers[index] = start()
    _stop_all(workers)
    return status


def _stop_all(workers: list[BaseProcess]) -> None:
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            logger.warning("worker %s still running after %.0f s; killing it", worker.pid, SHUTDOWN_GRACE_SECONDS)
            worker.kill()
            worker.join()


def _worker(app: str, host: str, port: int, supervisor: int) -> None:  # runs in the worker process
    import uvicorn

    os.setpgid(0, 0)  # out of the terminal's process group: a Ctrl-C reaches the supervisor only
    sock = listening_socket(host, port, reuse_port=True)
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options()))

    def leave_without_supervisor() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        server.should_exit = True

    threading.Thread(target=leave_without_supervisor, daemon=True).start()
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)
