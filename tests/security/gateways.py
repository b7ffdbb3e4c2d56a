"""A live gateway of its own for one test, started after the test's settings are in place (the
shared one built its upstream pool at the session's start, with the defaults)."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.live_gateway import Gateway, GatewayServer


@pytest.fixture
def own_gateway(gateway, settings) -> Iterator[Callable[..., Gateway]]:
    """`own_gateway(**g4f_settings)`: a fresh live gateway on those settings (stopped after the test)."""
    servers: list[GatewayServer] = []

    def start(**g4f: Any) -> Gateway:
        settings.G4F = {**settings.G4F, **g4f}
        server = GatewayServer().start()
        servers.append(server)
        return Gateway(server, gateway.fake)

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
