"""A conversation sticks to the provider that answered it; failover continues it elsewhere and says so."""

import pytest


def _ask(gateway, cid: str, text: str, **body):
    return gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "messages": [{"role": "user", "content": text}], "conversation_id": cid, **body},
    )


def test_the_next_turn_goes_to_the_provider_that_answered_even_over_a_higher_priority(gateway):
    gateway.add_provider("alpha", priority=10)
    gateway.add_provider("beta", priority=0)
    first = _ask(gateway, "sticky", "one", provider="beta")
    assert first.json()["provider"] == "beta"
    assert "x-conversation-provider-changed" not in first.headers
    second = _ask(gateway, "sticky", "two")  # no provider named: alpha would win on priority
    assert second.status_code == 200 and second.json()["provider"] == "beta"
    assert "x-conversation-provider-changed" not in second.headers
    assert gateway.fake.requests_for("alpha") == []
    assert [m["content"] for m in gateway.fake.requests_for("beta")[-1].json["messages"]] == [
        "one",
        "Hello from beta: one",
        "two",
    ]
    # Without a conversation the priority order is unchanged.
    plain = gateway.post(
        "/v1/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]}
    )
    assert plain.json()["provider"] == "alpha"


def test_when_the_provider_is_down_failover_continues_elsewhere_and_says_so(gateway):
    gateway.add_provider("alpha", priority=10)
    gateway.add_provider("beta", priority=0)
    assert _ask(gateway, "moving", "one", provider="beta").json()["provider"] == "beta"
    gateway.fake.set_fault("beta", "500")
    second = _ask(gateway, "moving", "two")
    assert second.status_code == 200 and second.json()["provider"] == "alpha"
    assert second.headers["x-conversation-provider-changed"] == "true"
    assert second.headers["x-conversation-previous-provider"] == "beta"
    # The history went with it.
    assert [m["content"] for m in gateway.fake.requests_for("alpha")[-1].json["messages"]] == [
        "one",
        "Hello from beta: one",
        "two",
    ]
    stored = gateway.get("/v1/conversations/moving").json()
    assert stored["provider"] == "alpha"
    assert [m["provider"] for m in stored["messages"] if m["role"] == "assistant"] == ["beta", "alpha"]
    # It now sticks to alpha.
    gateway.fake.set_fault("beta", None)
    third = _ask(gateway, "moving", "three")
    assert third.json()["provider"] == "alpha" and "x-conversation-provider-changed" not in third.headers


@pytest.mark.parametrize("stream", [False, True])
def test_a_named_provider_wins_over_the_sticky_one(gateway, stream):
    gateway.add_provider("alpha", priority=10)
    gateway.add_provider("beta", priority=0)
    _ask(gateway, "named", "one")
    response = _ask(gateway, "named", "two", provider="beta", stream=stream)
    assert response.status_code == 200 and response.headers["x-provider"] == "beta"
    assert response.headers["x-conversation-provider-changed"] == "true"
    assert gateway.get("/v1/conversations/named").json()["provider"] == "beta"


def test_the_sticky_provider_is_skipped_when_it_cannot_serve_the_model(gateway):
    gateway.add_provider("alpha", priority=10, models=["fake-model", "other-model"])
    gateway.add_provider("beta", priority=0, models=["fake-model"])
    _ask(gateway, "models", "one", provider="beta")
    response = gateway.post(
        "/v1/chat/completions",
        {"model": "other-model", "messages": [{"role": "user", "content": "two"}], "conversation_id": "models"},
    )
    assert response.status_code == 200 and response.json()["provider"] == "alpha"
    assert response.headers["x-conversation-provider-changed"] == "true"
