"""The Anthropic and Gemini adapters end to end: the openai SDK and raw HTTP against the live gateway,
which translates for the fake upstream speaking each protocol (tests/fake_upstream/*_protocol.py).

Behaviour every translating protocol shares is tested here for both; what each one sends upstream is
in test_protocol_anthropic.py and test_protocol_gemini.py; all three use tests/api/protocol_helpers.py.
"""

import json

import openai
import pytest

from tests.api.protocol_helpers import (
    MODELS,
    TOOLS,
    add_provider,
    chat,
    finish_reasons,
    last_sent,
    stream_events,
    streamed_text,
)
from tests.openapi import assert_valid

protocols = pytest.mark.parametrize("adapter", ["anthropic", "gemini"])


@protocols
def test_completion_validates_and_carries_the_upstream_answer_and_usage(gateway, adapter):
    name = add_provider(gateway, adapter)
    response = chat(gateway, adapter, "one two three")
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid("CreateChatCompletionResponse", body)
    assert body["provider"] == name and response.headers["x-provider"] == name
    assert body["model"] == MODELS[adapter]
    assert body["choices"][0]["message"]["content"] == f"Hello from {name}: one two three"
    assert body["choices"][0]["finish_reason"] == "stop"
    # The fake counts words: 3 prompt words, 6 answer words; the gateway relays the upstream's usage.
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}


@protocols
def test_sdk_parses_completion_and_stream(gateway, adapter):
    name = add_provider(gateway, adapter)
    gateway.fake.set_option(name, chunks=4)
    client = gateway.openai()
    completion = client.chat.completions.create(model=MODELS[adapter], messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == f"Hello from {name}: hi"
    chunks = list(
        client.chat.completions.create(
            model=MODELS[adapter],
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"Hello from {name}: hi"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert len({c.id for c in chunks}) == 1


@protocols
def test_stream_chunks_validate_and_end_with_finish_reason_and_usage(gateway, adapter):
    name = add_provider(gateway, adapter)
    gateway.fake.set_option(name, chunks=6)
    events = stream_events(gateway, adapter, "stream me please")
    chunks = [event for event in events if isinstance(event, dict)]
    assert len(chunks) >= 6  # the upstream's pieces arrive as pieces
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert streamed_text(events) == f"Hello from {name}: stream me please"
    assert finish_reasons(events) == ["stop"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}


@protocols
def test_sdk_accumulates_streamed_tool_call(gateway, adapter):
    name = add_provider(gateway, adapter)
    stream = gateway.openai().chat.completions.create(
        model=MODELS[adapter], messages=[{"role": "user", "content": "find x"}], tools=TOOLS, stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = []
    for chunk in stream:
        for choice in chunk.choices:
            finish += [choice.finish_reason] if choice.finish_reason else []
            for delta in choice.delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                call["name"] = (delta.function and delta.function.name) or call["name"]
                call["arguments"] += (delta.function and delta.function.arguments) or ""
    assert finish == ["tool_calls"]
    assert list(calls) == [0] and calls[0]["name"] == "lookup" and calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == {"echo": "find x"}
    assert gateway.fake.requests_for(name)


@protocols
@pytest.mark.parametrize(
    "fault,status,code,sdk_error",
    [
        ("401", 502, "provider_auth_failed", openai.APIStatusError),
        ("403", 502, "provider_auth_failed", openai.APIStatusError),
        ("429", 429, "rate_limit_exceeded", openai.RateLimitError),
        ("500", 502, "provider_error", openai.APIStatusError),
        ("503", 502, "provider_error", openai.APIStatusError),
        ("malformed", 502, "provider_malformed_response", openai.APIStatusError),
        ("empty", 502, "provider_malformed_response", openai.APIStatusError),
    ],
)
def test_upstream_errors_become_openai_errors(gateway, adapter, fault, status, code, sdk_error):
    # Provider health may take a failing provider out of routing, so each client gets a fresh one.
    raw, sdk = add_provider(gateway, adapter), add_provider(gateway, adapter, name=f"{adapter}-sdk")
    gateway.fake.set_fault(raw, fault, retry_after=7)
    gateway.fake.set_fault(sdk, fault, retry_after=7)
    response = gateway.post(
        f"/api/{raw}/chat/completions", {"model": MODELS[adapter], "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    if status == 429:
        assert response.headers["retry-after"] == "7"
    with pytest.raises(sdk_error) as raised:
        gateway.openai().chat.completions.create(
            model=MODELS[adapter], messages=[{"role": "user", "content": "x"}], extra_body={"provider": sdk}
        )
    assert raised.value.status_code == status
    assert raised.value.body["code"] == code


@protocols
def test_upstream_refusing_a_missing_key_is_a_provider_auth_failure(gateway, adapter):
    name = add_provider(gateway, adapter, api_key="")
    response = chat(gateway, adapter, "x")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_auth_failed"
    sent = last_sent(gateway, name)
    assert "x-api-key" not in sent.headers and "x-goog-api-key" not in sent.headers


@protocols
@pytest.mark.parametrize("fault,code", [("cut", "provider_disconnected"), ("malformed", "provider_malformed_response")])
def test_broken_stream_ends_with_an_error_event(gateway, adapter, fault, code):
    name = add_provider(gateway, adapter)
    gateway.fake.set_fault(name, fault)
    events = stream_events(gateway, adapter, "a longer message to cut")
    assert isinstance(events[0], dict) and "choices" in events[0]  # the stream had started
    assert events[-2]["error"]["code"] == code
    assert finish_reasons(events) == []


@protocols
def test_stream_that_ends_without_its_stop_event_is_an_error(gateway, adapter):
    """The `empty` fault: an Anthropic stream that never starts a message, a Gemini one without
    candidates; both end cleanly, without the event that finishes the answer."""
    name = add_provider(gateway, adapter)
    gateway.fake.set_fault(name, "empty")
    body = {"model": MODELS[adapter], "messages": [{"role": "user", "content": "x"}], "stream": True}
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "stream_truncated"


@protocols
def test_errors_before_the_first_chunk_are_plain_http_errors(gateway, adapter):
    name = add_provider(gateway, adapter)
    gateway.fake.set_fault(name, "429", retry_after=3)
    body = {"model": MODELS[adapter], "messages": [{"role": "user", "content": "x"}], "stream": True}
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert response.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_refuses_image_urls_on_the_gateways_own_network(gateway, stream):
    """Gemini needs image bytes, so the gateway would fetch the URL itself: not from loopback."""
    name = add_provider(gateway, "gemini")
    url = f"{gateway.fake.base_url}/files/image.png"  # a real, fetchable image on 127.0.0.1
    content = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": url}}]
    response = chat(gateway, "gemini", [{"role": "user", "content": content}], stream=stream)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "image_url_refused" and error["type"] == "invalid_request_error"
    assert "127.0.0.1" in error["message"]
    assert not [r for r in gateway.fake.requests if r.path == "/files/image.png"]
    assert gateway.fake.requests_for(name) == []


def test_anthropic_passes_http_image_urls_for_the_provider_to_fetch(gateway):
    """The Messages API takes URL image sources, so the gateway fetches nothing itself."""
    name = add_provider(gateway, "anthropic")
    url = f"{gateway.fake.base_url}/files/image.png"
    content = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": url}}]
    response = chat(gateway, "anthropic", [{"role": "user", "content": content}])
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == f"Hello from {name}: what is this [images: 1]"
    sent = last_sent(gateway, name).json["messages"][0]["content"]
    assert sent[1] == {"type": "image", "source": {"type": "url", "url": url}}
    assert not [r for r in gateway.fake.requests if r.path == "/files/image.png"]


def test_pollinations_chat_is_openai_compatible(gateway):
    """The seeded PollinationsAI entry's adapter: chat goes to its OpenAI-compatible endpoint."""
    gateway.add_provider("polli", adapter="pollinations")
    completion = gateway.openai().chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "Hello from polli: hi"
    assert last_sent(gateway, "polli").path == "/polli/v1/chat/completions"
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    streamed = gateway.post("/v1/chat/completions", body)
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
    events = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    assert streamed_text(events) == "Hello from polli: hi" and finish_reasons(events) == ["stop"]
