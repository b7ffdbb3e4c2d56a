"""Real PostgreSQL and Redis servers from the Debian packages, on loopback, for the tests that need
shared services. Each can be stopped and started again on the same port (and data), as an outage.

`redis_server` (a fixture) yields a fresh `RedisServer` for one test; `redis_running()` yields the
URL of one as a context manager, for fixtures of a wider scope. Both skip when Debian's
`redis-server` is not installed (`scripts/test` installs it).
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port, port_open, stop_process, wait_until

POSTGRES_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
MOTO_SERVER = os.path.join(os.path.dirname(sys.executable), "moto_server")
REDIS = shutil.which("redis-server")


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A throw-away PostgreSQL cluster with database `g4f` owned by user `g4f` (trust auth)."""

    def __init__(self) -> None:
        self.bindir = POSTGRES_BIN[-1]
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="g4f-pg-", dir="/tmp")
        self.process: subprocess.Popen | None = None
        os.chmod(self.data, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgres://g4f@127.0.0.1:{self.port}/g4f"

    def create(self) -> "PostgresServer":
        """initdb, start, create the `g4f` database."""
        self._bin("initdb", "-D", self.data, "-A", "trust", "-U", "g4f", "--no-sync")
        self.start()
        self._bin("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "g4f", "g4f")
        return self

    def start(self) -> None:
        """Start the server on its port and data; return once it accepts connections."""
        command = [f"{self.bindir}/postgres", "-D", self.data, "-p", str(self.port), "-k", self.data]
        command += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]
        self.process = subprocess.Popen(_as_postgres(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self._ready():
            assert time.monotonic() < deadline and self.process.poll() is None, "PostgreSQL did not start"
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server with a fast shutdown, which cuts open connections (the gateways keep
        theirs open, so the default smart shutdown would wait for them)."""
        if self.process is not None:
            command = [f"{self.bindir}/pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w", "-t", "20"]
            subprocess.run(_as_postgres(command), capture_output=True, timeout=60)
            stop_process(self.process, timeout=20)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def _ready(self) -> bool:
        command = [f"{self.bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(command, capture_output=True).returncode == 0

    def _bin(self, name: str, *args: str) -> None:
        subprocess.run(_as_postgres([f"{self.bindir}/{name}", *args]), check=True, capture_output=True, timeout=120)


@contextmanager
def postgres_service() -> Iterator[PostgresServer]:
    """A running PostgreSQL server, removed with its data on the way out."""
    server = PostgresServer()
    try:
        yield server.create()
    finally:
        server.remove()


needs_postgres = pytest.mark.skipif(not POSTGRES_BIN, reason="PostgreSQL is not installed (scripts/test installs it)")


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for this test (which may stop and start it again)."""
    with postgres_service() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url


class RedisServer:
    """A real redis-server on 127.0.0.1 (no persistence): `start()` (again on the same port after
    `stop()`), `stop()`, `pause()` / `resume()` (SIGSTOP / SIGCONT: a hung server)."""

    def __init__(self, port: int | None = None, options: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.options = options  # more redis-server options, as `("--requirepass", "secret")`
        self.process: subprocess.Popen | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        command = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += self.options
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: port_open(self.port), timeout=10):
            self.stop()
            raise RuntimeError("redis-server did not start")
        return self

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.paused and self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.process is not None:
            self.resume()  # a stopped process would not handle SIGTERM
            stop_process(self.process)
            self.process = None


@contextmanager
def redis_service(*options: str) -> Iterator[RedisServer]:
    """A running redis-server (with more `options`), stopped on the way out; skips where
    redis-server is not installed."""
    if REDIS is None:
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(options=options)
    try:
        yield server.start()
    finally:
        server.stop()


@contextmanager
def redis_running() -> Iterator[str]:
    """A throw-away redis-server; yields `redis://127.0.0.1:PORT/0` (for fixtures of a wider scope)."""
    with redis_service() as server:
        yield server.url


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for this test (which may stop, restart or pause it)."""
    with redis_service() as server:
        yield server


@contextmanager
def s3_server(log_dir: Path, access_key: str, secret_key: str, bucket: str) -> Iterator[tuple[str, object]]:
    """moto's S3-compatible server on 127.0.0.1 with `bucket` made; yields (endpoint, boto3 client)."""
    import boto3  # only the tests that share media need it

    port = free_port()
    with open(log_dir / "moto.log", "wb") as log:
        process = subprocess.Popen(
            [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        assert wait_until(lambda: port_open(port), timeout=60, interval=0.2), "moto_server did not start"
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=bucket)
        yield endpoint, client
    finally:
        stop_process(process)
