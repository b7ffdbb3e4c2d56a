"""Fixtures for the security tests that start real server processes (see tests/cli/servers.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.servers import ServerProcess, data_dir_with, manage


@pytest.fixture(scope="session")
def security_template_dir(tmp_path_factory) -> Path:
    """A migrated data directory with an empty catalogue; each server starts from a copy."""
    path = tmp_path_factory.mktemp("g4f-security-template") / "data"
    path.mkdir()
    manage(path, "migrate", "--noinput")
    return path


@pytest.fixture
def start_server(tmp_path_factory, security_template_dir) -> Iterator:
    """`start_server(command, env={...}, timeout=...)`: a started ServerProcess, stopped after the test."""
    started: list[ServerProcess] = []

    def start(command: list[str], *, env: dict | None = None, timeout: float = 90) -> ServerProcess:
        data_dir = data_dir_with(security_template_dir, tmp_path_factory.mktemp("g4f-data") / "data")
        server = ServerProcess(command, data_dir, env=env)
        started.append(server)
        return server.start(timeout=timeout)

    yield start
    for server in started:
        server.stop()
