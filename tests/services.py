"""Real backing services a test starts itself: a Redis server on loopback.

`redis_server` (a fixture) yields the URL of a fresh `redis-server` for one test; `redis_running()`
does the same as a context manager, for fixtures of a wider scope. Both skip when Debian's
`redis-server` is not installed (`scripts/test` installs it) and stop the process on the way out.
"""

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.helpers import free_port, port_open, stop_process, wait_until

REDIS = shutil.which("redis-server")


@contextmanager
def redis_running() -> Iterator[str]:
    """A throw-away `redis-server` on 127.0.0.1 (no persistence); yields `redis://127.0.0.1:PORT/0`."""
    if REDIS is None:
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    port = free_port()
    process = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: port_open(port), timeout=10), "redis-server did not start"
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process)


@pytest.fixture
def redis_server() -> Iterator[str]:
    """The URL of a fresh Redis server for this test."""
    with redis_running() as url:
        yield url
