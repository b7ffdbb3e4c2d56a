"""The Anthropic and Gemini adapters end to end: the openai SDK and raw HTTP against the live gateway,
which translates for the fake upstream speaking each protocol (tests/fake_upstream/*_protocol.py).

Behaviour every translating protocol shares is tested here for both; what each one sends upstream is
in test_protocol_anthropic.py and test_protocol_gemini.py, which use the helpers below.
"""

import json
from typing import Any

import openai
import pytest

from tests.openapi import assert_valid

MODELS = {"anthropic": "claude-fake", "gemini": "gemini-fake"}
KEYS = {"anthropic": "sk-ant-test", "gemini": "gm-test-key"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up.",
            "parameters": {
                "type": "object",
                "properties": {"echo": {"type": "string"}},
                "required": ["echo"],
                "additionalProperties": False,
            },
        },
    }
]


def add_provider(gateway, adapter: str, name: str | None = None, **fields: Any) -> str:
    """A provider of `adapter`'s protocol served by the fake, with a key; returns its name."""
    name = name or f"{adapter}-fake"
    fields.setdefault("api_key", KEYS[adapter])
    gateway.add_provider(name, models=[MODELS[adapter]], adapter=adapter, **fields)
    return name


def chat(gateway, adapter: str, messages: list[dict[str, Any]] | str, **fields: Any):
    """POST /v1/chat/completions for `adapter`'s model; a string is one user message."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return gateway.post("/v1/chat/completions", {"model": MODELS[adapter], "messages": messages, **fields})


def stream_events(gateway, adapter: str, messages: list[dict[str, Any]] | str, **fields: Any) -> list[Any]:
    """The SSE data of a streamed chat: chunks (each validated against OpenAI's schema), error events
    (validated as ErrorResponse-like), then "[DONE]"."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    body = {"model": MODELS[adapter], "messages": messages, "stream": True, **fields}
    response = gateway.post("/v1/chat/completions", body, stream=True)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events: list[Any] = []
    for line in response.iter_lines():
        if not line.startswith(b"data: "):
            continue
        payload = line[6:]
        if payload == b"[DONE]":
            events.append("[DONE]")
            continue
        event = json.loads(payload)
        if "error" in event:
            assert set(event["error"]) == {"message", "type", "param", "code"}
        else:
            assert_valid("CreateChatCompletionStreamResponse", event)
        events.append(event)
    assert events and events[-1] == "[DONE]"
    return events


def streamed_text(events: list[Any]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for event in events
        if isinstance(event, dict)
        for choice in event.get("choices") or ()
    )


def streamed_tool_calls(events: list[Any]) -> list[dict[str, Any]]:
    """Tool call deltas merged by index, as a client accumulates them."""
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        if not isinstance(event, dict):
            continue
        for choice in event.get("choices") or ():
            for delta in choice["delta"].get("tool_calls") or ():
                call = calls.setdefault(delta["index"], {"id": None, "name": None, "arguments": ""})
                call["id"] = delta.get("id") or call["id"]
                function = delta.get("function") or {}
                call["name"] = function.get("name") or call["name"]
                call["arguments"] += function.get("arguments") or ""
    return [calls[index] for index in sorted(calls)]


def finish_reasons(events: list[Any]) -> list[str]:
    return [
        choice["finish_reason"]
        for event in events
        if isinstance(event, dict)
        for choice in event.get("choices") or ()
        if choice.get("finish_reason")
    ]


def last_sent(gateway, name: str):
    """The last request the fake upstream received for provider `name`."""
    requests = gateway.fake.requests_for(name)
    assert requests, f"the fake upstream received nothing for {name}"
    return requests[-1]


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
