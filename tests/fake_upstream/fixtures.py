"""Pytest fixtures for the fake upstream: ``tests/conftest.py`` imports ``fake`` and ``fake_upstream``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import sdk_types
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
def fake(fake_upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    """The session's fake upstream with no faults, default options and no recorded requests. At
    teardown, fails the test if any Anthropic or Gemini body it received did not match the official
    SDK's types (``sdk_types.py``), whatever the gateway answered the client."""
    fake_upstream.reset()
    sdk_types.take_mismatches()
    yield fake_upstream
    mismatches = sdk_types.take_mismatches()
    assert not mismatches, "request bodies that do not match the SDK types:\n" + "\n".join(mismatches)
