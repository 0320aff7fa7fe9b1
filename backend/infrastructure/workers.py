"""`memberdesk serve --workers N`: N uvicorn processes, each listening on a socket of its own (SO_REUSEPORT), so
that the kernel spreads keep-alive connections evenly over them (docs/decisions.md: "A listening socket per
worker").

The supervisor starts the workers, starts a worker again when one dies or hangs, and on SIGINT, SIGTERM or
SIGHUP asks every worker to shut down gracefully (SIGTERM), killing the ones still running after the grace
period. The workers run in a process group of their own, so that Ctrl-C in a terminal reaches them once,
through the supervisor, and each leaves by itself if the supervisor is gone. A worker whose app fails to start ends the
whole command with uvicorn's start-up failure status (3), as does one that dies within its first seconds,
rather than being started again forever.

A hung worker matters more here than with a shared socket: the kernel keeps handing it its share of new
connections. Each worker's event loop beats a heartbeat every second; a worker whose heartbeat is older than
WORKER_TIMEOUT_SECONDS (an event loop blocked, a process stopped) is killed and started again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from backend.infrastructure.httpserver import HttpLimits, ServerConfig

logger = logging.getLogger("memberdesk.workers")

STARTUP_FAILURE = 3  # uvicorn's exit status for an app that failed to start
SHUTDOWN_GRACE_SECONDS = 30.0
SUPERVISOR_CHECK_SECONDS = 0.5
MIN_WORKER_LIFE_SECONDS = 5.0  # a worker gone sooner failed at start-up
HEARTBEAT_SECONDS = 1.0
STARTUP_ALLOWANCE_SECONDS = 60.0  # the most a worker may take to start beating (imports, app start-up)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def uvicorn_options() -> dict[str, Any]:
    """How the app is served, one worker or several (with ServerConfig, which adds the HTTP limits)."""
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


@dataclass
class _Worker:
    process: BaseProcess
    heartbeat: Synchronized[float]  # when its event loop last beat (time.monotonic(), shared); 0 before the first
    started: float

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def age(self) -> float:
        return time.monotonic() - self.started

    def silent_for(self) -> float:
        return time.monotonic() - (self.heartbeat.value or self.started)

    def allowed_silence(self, timeout: float) -> float:
        """`timeout` once it beats; before that, time to import and start the app too."""
        return timeout if self.heartbeat.value else max(timeout, STARTUP_ALLOWANCE_SECONDS)


def run_workers(
    app: str, host: str, port: int, count: int, *, timeout: float = 30.0, limits: HttpLimits | None = None
) -> int:
    """Serve `app` from `count` worker processes until a stop signal; the exit status for the command.

    `timeout`: seconds without a heartbeat from a worker's event loop before it is replaced; `limits`: the
    bounds on each request's head and body.
    """
    limits = limits or HttpLimits()
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

    def start() -> _Worker:
        heartbeat = context.Value("d", 0.0, lock=False)
        process = context.Process(
            target=_worker, args=(app, host, port, os.getpid(), heartbeat, limits), name="memberdesk-worker"
        )
        process.start()
        return _Worker(process, heartbeat, time.monotonic())

    workers = [start() for _ in range(count)]
    logger.info("serving on http://%s:%d with %d workers (pids %s)", host, port, count, [w.pid for w in workers])
    status = 0
    while not stop.wait(SUPERVISOR_CHECK_SECONDS):
        for index, worker in enumerate(workers):
            silent = worker.silent_for()
            killed = worker.process.is_alive() and silent > worker.allowed_silence(timeout)
            if killed:
                logger.error("worker %s has not answered for %.0f s; killing it", worker.pid, silent)
                worker.process.kill()
                worker.process.join()
            if worker.process.is_alive():
                continue
            exitcode = worker.process.exitcode
            if not killed and (exitcode == STARTUP_FAILURE or worker.age() < MIN_WORKER_LIFE_SECONDS):
                # Starting it again would fail the same way, over and over.
                logger.error("worker %s failed at start-up (status %s); stopping", worker.pid, exitcode)
                status = STARTUP_FAILURE
                stop.set()
                break
            logger.warning("worker %s exited (status %s); starting another", worker.pid, exitcode)
            workers[index] = start()
    _stop_all([worker.process for worker in workers])
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


def _worker(
    app: str, host: str, port: int, supervisor: int, heartbeat: Synchronized[float], limits: HttpLimits
) -> None:
    """A worker process: uvicorn on a socket of its own, its event loop beating `heartbeat`."""
    import uvicorn

    os.setpgid(0, 0)  # out of the terminal's process group: a Ctrl-C reaches the supervisor only
    sock = listening_socket(host, port, reuse_port=True)
    config = ServerConfig(app, limits=limits, **uvicorn_options())
    server = uvicorn.Server(config)

    def leave_without_supervisor() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        server.should_exit = True

    async def serve() -> None:
        async def beat() -> None:
            while True:
                heartbeat.value = time.monotonic()
                await asyncio.sleep(HEARTBEAT_SECONDS)

        beating = asyncio.create_task(beat())
        try:
            await server.serve(sockets=[sock])
        finally:
            beating.cancel()

    threading.Thread(target=leave_without_supervisor, daemon=True).start()
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(serve())
    if not server.started:
        sys.exit(STARTUP_FAILURE)
