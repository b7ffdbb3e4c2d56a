"""Shared fixtures: the fake upstream (`fake`), the live gateway (`gateway`) and a real Redis server
(`redis_server`, from `tests/services.py`)."""

from collections.abc import Iterator

import pytest
import requests
from django.contrib.auth import get_user_model

from catalogue.cache import catalogue_stamp_renew
from completions.usage import usage_recorder
from tests.fake_upstream.fixtures import fake, fake_upstream  # noqa: F401
from tests.helpers import admin_login
from tests.live_gateway import Gateway, GatewayServer
from tests.services import postgres_server, postgres_url, redis_server  # noqa: F401


@pytest.fixture(scope="session")
def gateway_server(django_db_setup, django_db_blocker) -> Iterator[GatewayServer]:
    """One live gateway for the session; the database stays reachable from its thread."""
    with django_db_blocker.unblock():
        server = GatewayServer().start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def gateway(gateway_server, transactional_db, fake) -> Iterator[Gateway]:  # noqa: F811
    """The live gateway with an empty catalogue (rows committed, so its thread sees them)."""
    catalogue_stamp_renew()
    yield Gateway(gateway_server, fake)
    usage_recorder.flush()
    catalogue_stamp_renew()


@pytest.fixture
def admin_session(gateway) -> requests.Session:
    """A `requests` session logged in to the live gateway's admin as a superuser."""
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests")
    return admin_login(gateway.url, "root", "pw-for-tests")
