"""`POST /v1/messages/count_tokens` and provider health: an estimate made without asking the upstream
says nothing of the provider (no success, no failure, no half-open probe used up), while an
`anthropic` provider's own count is an attempt like any other (its faults count, its answer too)."""

import time

import pytest

from catalogue.models import Provider
from completions.routing.health import health_board

COOLDOWN = 3.0  # long enough for the checks made while a breaker is open, on a loaded machine
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "ping"}]}
COUNT = {"model": "fake-model", "messages": [{"role": "user", "content": "one two three"}]}


@pytest.fixture
def breaker(settings):
    """Returns a setter: the breaker opens after `threshold` failures in a row, for COOLDOWN s."""

    def configure(threshold: int) -> None:
        settings.G4F = {
            **settings.G4F,
            "BREAKER_THRESHOLD": threshold,
            "BREAKER_WINDOW": 60.0,
            "BREAKER_COOLDOWN": COOLDOWN,
        }

    return configure


def provider_row(name: str) -> Provider:
    assert health_board.writer.wait_idle(10), "health writes did not finish"
    return Provider.objects.get(name=name)


def breaker_open(name: str) -> bool:
    row = provider_row(name)
    return row.status == "not_working" and row.status_set_by == "health" and "Circuit breaker" in row.status_reason


def chat_served_by(gateway) -> str:
    response = gateway.post("/v1/chat/completions", CHAT)
    assert response.status_code == 200, response.text
    return response.json()["provider"]


def counted_by(gateway) -> tuple[str, int]:
    """(the provider that counted, the count) of one count_tokens request."""
    response = gateway.post("/v1/messages/count_tokens", COUNT, headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 200, response.text
    return response.headers["x-provider"], response.json()["input_tokens"]


def wait_out_cooldown(name: str) -> None:
    until = provider_row(name).cooldown_until
    remaining = until.timestamp() - time.time()
    assert remaining <= COOLDOWN + 1, f"cool-down ends in {remaining:.1f} s"
    time.sleep(max(0.0, remaining) + 0.05)


def test_an_estimate_does_not_reset_the_failures_in_a_row(gateway, breaker):
    breaker(2)
    gateway.add_provider("flaky", priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("flaky", "500")
    assert chat_served_by(gateway) == "backup"  # flaky's first failure
    assert counted_by(gateway)[0] == "flaky"  # an estimate: flaky is not asked
    assert len(gateway.fake.requests_for("flaky")) == 1
    assert chat_served_by(gateway) == "backup"  # the second failure in a row: the breaker opens
    assert breaker_open("flaky")
    # A chat request now skips flaky without asking it.
    assert chat_served_by(gateway) == "backup"
    assert len(gateway.fake.requests_for("flaky")) == 2


def test_an_estimate_neither_closes_a_half_open_breaker_nor_uses_its_probe(gateway, breaker):
    breaker(1)
    gateway.add_provider("flaky", priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("flaky", "500", times=1)
    assert chat_served_by(gateway) == "backup"
    assert breaker_open("flaky")
    wait_out_cooldown("flaky")
    for _ in range(2):
        assert counted_by(gateway)[0] == "flaky"
    assert breaker_open("flaky")  # still open: nothing was asked of flaky
    assert len(gateway.fake.requests_for("flaky")) == 1
    # The probe is still there for the next real request, which restores flaky.
    assert chat_served_by(gateway) == "flaky"
    assert provider_row("flaky").status == "working"


def test_an_anthropic_providers_count_is_an_attempt_its_faults_and_answers_count(gateway, breaker):
    breaker(1)
    gateway.add_provider("claude", adapter="anthropic", api_key="k", priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("claude", "500", times=1)
    assert counted_by(gateway)[0] == "backup"  # claude's count failed: failover to an estimate
    assert [r.path for r in gateway.fake.requests_for("claude")] == ["/claude/anthropic/v1/messages/count_tokens"]
    assert breaker_open("claude")
    wait_out_cooldown("claude")
    assert counted_by(gateway) == ("claude", 3)  # the upstream's own count (words, in the fake) ...
    assert provider_row("claude").status == "working"  # ... is the probe's success
