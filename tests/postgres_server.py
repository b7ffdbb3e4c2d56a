"""A real PostgreSQL server for a test: a fresh cluster in a temporary directory on 127.0.0.1 and a
free port, with a database `g4f` owned by user `g4f` (trust auth). It can be stopped and started
again on the same port and data (a database restart). Fixtures: `postgres_server`, `postgres_url`."""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.helpers import free_port, stop_process

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
needs_postgres = pytest.mark.skipif(not BIN, reason="PostgreSQL is not installed (scripts/test installs it)")


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """One PostgreSQL cluster and its server process."""

    def __init__(self) -> None:
        self.bindir = BIN[-1]
        self.data = tempfile.mkdtemp(prefix="g4f-pg-", dir="/tmp")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgres://g4f@127.0.0.1:{self.port}/g4f"

    def create(self) -> "PostgresServer":
        """initdb, start, createdb."""
        os.chmod(self.data, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        subprocess.run(
            _as_postgres([f"{self.bindir}/initdb", "-D", self.data, "-A", "trust", "-U", "g4f", "--no-sync"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.start()
        subprocess.run(
            [f"{self.bindir}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "g4f", "g4f"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return self

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it accepts connections."""
        log = open(os.path.join(self.data, "server.log"), "ab")
        self.process = subprocess.Popen(
            _as_postgres(
                [
                    f"{self.bindir}/postgres",
                    *("-D", self.data, "-p", str(self.port), "-k", self.data),
                    *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.ready():
            assert time.monotonic() < deadline and self.process.poll() is None, (
                f"PostgreSQL did not start: {self.log()}"
            )
            time.sleep(0.2)

    def log(self) -> str:
        with open(os.path.join(self.data, "server.log"), errors="replace") as log:
            return log.read()[-2000:]

    def ready(self) -> bool:
        command = [f"{self.bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    def stop(self, timeout: float = 30) -> None:
        """A fast shutdown (`pg_ctl stop -m fast`, as a restart does): open sessions are ended."""
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run(
            _as_postgres(
                [f"{self.bindir}/pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w", "-t", str(int(timeout))]
            ),
            capture_output=True,
            timeout=timeout + 10,
        )
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_process(self.process, timeout=5)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server, removed (process and data) at the end of the test."""
    server = PostgresServer()
    try:
        yield server.create()
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url
