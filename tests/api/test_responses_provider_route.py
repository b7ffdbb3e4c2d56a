"""`POST /api/{provider}/responses`, G4F's provider-pinned form, with the openai SDK pointed at
`/api/<provider>`: translated and native, one answer and a stream, and an unknown provider."""

import openai
import pytest

from tests.api.responses_helpers import MODELS, add_provider
from tests.openapi import assert_valid


def pinned(gateway, provider: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/api/{provider}", api_key="unused", max_retries=0, timeout=20)


def test_translated_create_and_stream_go_to_the_named_provider(gateway):
    add_provider(gateway, "openai", "alpha", priority=10)
    add_provider(gateway, "openai", "beta", priority=0)
    client = pinned(gateway, "beta")
    response = client.responses.create(model=MODELS["openai"], input="one two")
    assert response.output_text == "Hello from beta: one two" and response.model_dump()["provider"] == "beta"
    with client.responses.stream(model=MODELS["openai"], input="three") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Hello from beta: three"
    assert [r.path for r in gateway.fake.requests_for("beta")] == ["/beta/v1/chat/completions"] * 2
    assert gateway.fake.requests_for("alpha") == []
    # A model the catalogue does not map to the provider goes upstream under its own name.
    passthrough = client.responses.create(model="llama3:8b", input="hi")
    assert passthrough.output_text == "Hello from beta: hi"
    assert gateway.fake.requests_for("beta")[-1].json["model"] == "llama3:8b"


def test_native_create_and_stream_are_relayed_from_the_named_provider(gateway):
    add_provider(gateway, "openai", "alpha", priority=10)
    add_provider(gateway, "openai", "gamma", native=True, priority=0)
    client = pinned(gateway, "gamma")
    response = client.responses.create(model=MODELS["openai"], input="one two", metadata={"run": "1"})
    assert response.id.startswith("resp_fake") and response.output_text == "Hello from gamma: one two"
    with client.responses.stream(model=MODELS["openai"], input="three") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Hello from gamma: three"
    sent = gateway.fake.requests_for("gamma")
    assert [r.path for r in sent] == ["/gamma/v1/responses"] * 2
    assert sent[0].json["metadata"] == {"run": "1"} and sent[1].json["stream"] is True
    assert gateway.fake.requests_for("alpha") == []


def test_an_unknown_provider_is_a_404_provider_not_found(gateway):
    add_provider(gateway, "openai", "alpha")
    with pytest.raises(openai.NotFoundError) as raised:
        pinned(gateway, "nope").responses.create(model=MODELS["openai"], input="hi")
    assert raised.value.status_code == 404
    assert raised.value.body["code"] == "provider_not_found" and "nope" in raised.value.body["message"]
    raw = gateway.post("/api/nope/responses", {"model": MODELS["openai"], "input": "hi", "stream": True})
    assert raw.status_code == 404 and raw.headers["content-type"].startswith("application/json")
    assert_valid("ErrorResponse", raw.json())
    assert gateway.fake.requests_for("alpha") == []
