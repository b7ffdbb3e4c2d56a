"""The server log says, one WARNING line each, when a provider fails, when its breaker opens and
closes and why, and when an upstream rate-limits it; never with the provider's credential."""

import logging
import time

import pytest

from catalogue.models import Provider
from completions.routing.health import health_board
from g4fsite.conf import gateway_settings

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-upstream-credential-0123456789"


@pytest.fixture
def fast_breaker(settings):
    settings.G4F = {**settings.G4F, "BREAKER_THRESHOLD": 2, "BREAKER_WINDOW": 30.0, "BREAKER_COOLDOWN": 1.0}


def health_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "g4f.health" and r.levelno == logging.WARNING]


def test_failures_and_the_breaker_opening_and_closing_are_logged(gateway, fast_breaker, caplog):
    caplog.set_level(logging.WARNING, logger="g4f.health")
    gateway.add_provider("Flaky", priority=2, api_key=SECRET)
    gateway.add_provider("Backup", priority=1)
    gateway.fake.set_fault("Flaky", "500")
    for _ in range(2):
        assert gateway.post("/v1/chat/completions", CHAT).json()["provider"] == "Backup"
    assert health_board.writer.wait_idle(10)
    lines = health_lines(caplog)
    assert [line.split(":")[0] for line in lines] == [
        "Provider Flaky failed",
        "Provider Flaky failed",
        "Provider Flaky",
    ], lines
    assert lines[2].startswith("Provider Flaky: circuit breaker open for 1s: Circuit breaker: 2 failures in a row")
    assert all("\n" not in line for line in lines)

    gateway.fake.set_fault("Flaky", None)
    until = Provider.objects.get(name="Flaky").cooldown_until
    time.sleep(max(0.0, until.timestamp() - time.time()) + 0.05)
    assert gateway.post("/v1/chat/completions", CHAT).json()["provider"] == "Flaky"  # the probe
    assert health_lines(caplog)[-1] == (
        "Provider Flaky: circuit breaker closed: the probe after the cool-down succeeded"
    )
    assert not any(SECRET in record.getMessage() for record in caplog.records)


def test_a_rejected_credential_and_a_rate_limit_are_logged_with_their_reason(gateway, caplog):
    caplog.set_level(logging.WARNING, logger="g4f.health")
    gateway.add_provider("Keyed", priority=3, api_key=SECRET)
    gateway.add_provider("Limited", priority=2)
    gateway.add_provider("Backup", priority=1)
    gateway.fake.set_fault("Keyed", "401")
    gateway.fake.set_fault("Limited", "429", retry_after=7)
    # A rejected credential counts only once it repeats (AUTH_FAILURE_THRESHOLD within BREAKER_WINDOW).
    for _ in range(gateway_settings.AUTH_FAILURE_THRESHOLD):
        assert gateway.post("/v1/chat/completions", CHAT).json()["provider"] == "Backup"
    lines = health_lines(caplog)
    assert any(
        line.startswith("Provider Keyed: circuit breaker open for 600s: The upstream rejected") for line in lines
    )
    assert "Provider Limited: rate limited by the upstream, cooling down for 7s" in lines
    assert not any(SECRET in record.getMessage() for record in caplog.records)
