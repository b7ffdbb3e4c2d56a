"""Fixtures for the command-line tests: a migrated template data directory, copied per server."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.servers import ServerProcess, data_dir_with, fake_catalogue, manage


@pytest.fixture(scope="session")
def template_data_dir(tmp_path_factory) -> Path:
    """A data directory migrated once (an empty catalogue); servers start from copies of it."""
    path = tmp_path_factory.mktemp("g4f-template")
    manage(path, "migrate", "--noinput")
    return path


@pytest.fixture(scope="module")
def start_server(tmp_path_factory, template_data_dir, fake_upstream) -> Iterator:
    """`start_server(command, providers={...}, env={...})`: a started ServerProcess, stopped
    at the end of the test module (or earlier by the test)."""
    started: list[ServerProcess] = []

    def start(command: list[str], *, providers: dict | None = None, fields: dict | None = None, env=None, **kwargs):
        catalogue = fake_catalogue(fake_upstream, providers, **(fields or {})) if providers else None
        data_dir = data_dir_with(template_data_dir, tmp_path_factory.mktemp("g4f-data") / "data", catalogue)
        server = ServerProcess(command, data_dir, env=env, **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
