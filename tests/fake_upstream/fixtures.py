"""Pytest fixtures for the fake upstream: ``tests/conftest.py`` imports ``fake`` and ``fake_upstream``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeUpstream


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    """One fake upstream server for the whole session, stopped (thread joined) at the end."""
    server = FakeUpstream().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake(fake_upstream: FakeUpstream) -> FakeUpstream:
    """The session's fake upstream with no faults, default options and no recorded requests."""
    fake_upstream.reset()
    return fake_upstream
