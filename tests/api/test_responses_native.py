"""`POST /v1/responses` passed through to an OpenAI-compatible provider whose mapping declares the
`responses` capability: the client's body goes upstream as sent (model mapped, credential swapped,
unknown fields kept), and the answer or stream comes back as the provider sent it."""

import json

import openai
import pytest

from tests.api.responses_helpers import LOOKUP, MODELS, add_provider, create, output_text, stream, types
from tests.openapi import assert_valid

# What Codex CLI sends (its public config docs and request builder): a list of items, instructions,
# flat function tools, reasoning with a summary, encrypted reasoning back, nothing stored upstream.
CODEX_REQUEST = {
    "model": "fake-model",
    "instructions": "You are Codex, a coding agent.",
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions/>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the files"}]},
    ],
    "tools": [{**LOOKUP, "strict": False}, {"type": "web_search"}],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "store": False,
    "stream": True,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "3f1c0d1e-codex-session",
    "text": {"verbosity": "low"},
    "client_metadata": {"x-codex-turn": "1"},  # a field the gateway does not know: kept
}


def test_native_create_is_relayed_and_the_body_goes_upstream_as_sent(gateway):
    name = add_provider(gateway, "openai", native=True, api_key="sk-upstream-secret")
    body = {"model": MODELS["openai"], "input": "one two", "metadata": {"a": "b"}, "service_tier": "flex"}
    response = create(gateway, body, headers={"Authorization": "Bearer client-key"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert_valid("Response", answer)
    assert answer["id"].startswith("resp_fake") and output_text(answer) == f"Hello from {name}: one two"
    assert response.headers["x-provider"] == name

    sent = gateway.fake.requests_for(name)[-1]
    assert sent.path == f"/{name}/v1/responses"
    assert sent.json == body  # everything, unknown fields included, under the upstream's model name
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
    assert "sk-upstream-secret" not in response.text


def test_codex_shaped_request_passes_through_with_its_fields_intact(gateway):
    name = add_provider(gateway, "openai", native=True)
    events = stream(gateway, CODEX_REQUEST)
    assert gateway.fake.requests_for(name)[-1].json == CODEX_REQUEST

    assert types(events)[0] == "response.created" and types(events)[-1] == "response.completed"
    assert all("type" in event for event in events)
    assert events[0]["response"]["object"] == "response"
    completed = events[-1]["response"]
    assert completed["usage"]["input_tokens"] > 0
    reasoning = completed["output"][0]
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"] == "encrypted-fake-reasoning"
    call = completed["output"][1]
    assert call["type"] == "function_call" and json.loads(call["arguments"]) == {"echo": "list the files"}
    # store: false stores nothing.
    assert gateway.get(f"/v1/responses/{completed['id']}").status_code == 404


def test_a_request_chat_cannot_carry_needs_a_native_provider(gateway):
    add_provider(gateway, "anthropic")
    body = {"model": MODELS["anthropic"], "input": "hi", "tools": [{"type": "web_search"}]}
    refused = create(gateway, body)
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["code"] == "unsupported_capability"
        and "responses" in refused.json()["error"]["message"]
    )


def test_native_stream_broken_after_its_first_byte_ends_with_response_failed(gateway):
    name = add_provider(gateway, "openai", native=True)
    gateway.fake.set_option(name, chunks=10)
    gateway.fake.set_fault(name, "cut")
    events = stream(gateway, {"model": MODELS["openai"], "input": "one two three four"})
    assert types(events)[0] == "response.created"
    assert types(events)[-1] == "response.failed" and "response.completed" not in types(events)
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert events[-1]["sequence_number"] == events[-2]["sequence_number"] + 1


def test_failover_crosses_from_native_to_translated_before_the_first_byte(gateway):
    native = add_provider(gateway, "openai", native=True, priority=10)
    translated = add_provider(gateway, "gemini", name="gemini-backup")
    gateway.add_provider(
        translated, models=[MODELS["openai"]], adapter="gemini", capabilities=("chat", "tools"), api_key="gm-test-key"
    )
    gateway.fake.set_fault(native, "500")
    answer = create(gateway, {"model": MODELS["openai"], "input": "hello"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-provider"] == translated and answer.headers["x-attempts"] == "2"
    assert output_text(answer.json()) == f"Hello from {translated}: hello"

    events = stream(gateway, {"model": MODELS["openai"], "input": "hello"})
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["provider"] == translated


def test_sdk_round_trip_through_a_native_provider_continues_from_the_gateways_store(gateway):
    name = add_provider(gateway, "openai", native=True)
    client = gateway.openai()
    first = client.responses.create(model=MODELS["openai"], input="weather", tools=[LOOKUP])
    call = next(item for item in first.output if item.type == "function_call")
    second = client.responses.create(
        model=MODELS["openai"],
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[LOOKUP],
    )
    assert second.output_text == "Tool said: sunny"
    sent = gateway.fake.requests_for(name)[-1].json
    # The gateway keeps responses, so it sends the stored context in place of the id.
    assert "previous_response_id" not in sent
    assert [item.get("type", "message") for item in sent["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert "id" not in sent["input"][1]


def test_upstream_errors_before_the_first_byte_are_plain_errors(gateway):
    name = add_provider(gateway, "openai", native=True)
    gateway.fake.set_fault(name, "429")
    with pytest.raises(openai.RateLimitError):
        gateway.openai().responses.create(model=MODELS["openai"], input="hi")
