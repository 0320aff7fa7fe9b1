"""A real PgBouncer in transaction mode in front of a primary (Debian's pgbouncer package): the tests' second
run goes through it, and `make chaos` restarts it under load."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from sqlalchemy.engine import make_url

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgBouncer:
    """Started as the postgres user when root (PgBouncer refuses root); stopped with SIGTERM."""

    def __init__(self, root: Path, primary_url: str) -> None:
        self.root = root
        self.upstream = make_url(primary_url)
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.upstream.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        user, password = self.upstream.username, self.upstream.password
        (self.root / "userlist.txt").write_text(f'"{user}" "{password}"\n')
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{self.upstream.database} = host=127.0.0.1 port={self.upstream.port} dbname={self.upstream.database}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {self.root / 'userlist.txt'}\n"
            "pool_mode = transaction\nmax_client_conn = 500\ndefault_pool_size = 20\n"
            f"logfile = {self.root / 'pgbouncer.log'}\n"
            "ignore_startup_parameters = extra_float_digits\n"
            # A restarted server is tried again after a second, and a client never queues for long.
            "server_login_retry = 1\nquery_wait_timeout = 5\n"
        )
        as_postgres = os.geteuid() == 0
        if as_postgres:
            shutil.chown(self.root, "postgres")
            for path in self.root.iterdir():
                shutil.chown(path, "postgres")
        with (self.root / "stderr.log").open("wb") as stderr:
            self.process = subprocess.Popen(
                [PGBOUNCER, str(self.root / "pgbouncer.ini")],
                user="postgres" if as_postgres else None,
                group="postgres" if as_postgres else None,
                extra_groups=[] if as_postgres else None,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        logs = [self.root / "pgbouncer.log", self.root / "stderr.log"]
        tail = "".join(log.read_text()[-2000:] for log in logs if log.exists())
        raise RuntimeError(f"pgbouncer did not start: {tail}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop it (every client connection is cut) and start it again on the same port."""
        self.stop()
        self.start()
