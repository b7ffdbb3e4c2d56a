"""Streamed chat: SSE chunks, the closing chunk with finish_reason and usage, [DONE]."""

import json

import pytest

from tests.helpers import sse_events
from tests.openapi import assert_valid


def test_stream_with_the_sdk(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", chunks=7)
    stream = gateway.openai().chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "stream me"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from alpha: stream me"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert {c.model_dump()["provider"] for c in chunks} == {"alpha"}
    assert len({c.id for c in chunks}) == 1


def test_stream_wire_format_validates(gateway):
    gateway.add_provider("alpha")
    response = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "abc"}]},
        stream=True,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-provider"] == "alpha"
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        assert_valid("CreateChatCompletionStreamResponse", event)
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-2]["usage"]["completion_tokens"] > 0


def test_stream_include_usage_sends_openai_usage_chunk(gateway):
    gateway.add_provider("alpha")
    response = gateway.post(
        "/v1/chat/completions",
        {
            "model": "fake-model",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "abc"}],
        },
        stream=True,
    )
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"] == [] and events[-2]["usage"]["total_tokens"] > 0
    assert events[-3]["choices"][0]["finish_reason"] == "stop"
    for event in events[:-1]:
        assert_valid("CreateChatCompletionStreamResponse", event)


def test_streamed_tool_call_deltas(gateway):
    gateway.add_provider("alpha")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    stream = gateway.openai().chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "q"}], tools=tools, stream=True
    )
    name, arguments, finish = None, "", None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                name = call.function.name or name
                arguments += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert name == "lookup" and json.loads(arguments) == {"echo": "q"} and finish == "tool_calls"


def test_stream_cut_midway_ends_with_error_event_not_clean_finish(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", chunks=10)
    gateway.fake.set_fault("alpha", "cut")
    response = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "a long answer please"}]},
        stream=True,
    )
    events = sse_events(response)
    errors = [e for e in events if isinstance(e, dict) and "error" in e]
    assert errors and errors[-1]["error"]["type"] == "api_error"
    assert not any(isinstance(e, dict) and any(c.get("finish_reason") for c in e.get("choices", ())) for e in events)


def test_stream_failure_before_first_chunk_is_a_plain_error(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_fault("alpha", "500")
    response = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_error"


@pytest.mark.parametrize("fault", ["malformed"])
def test_malformed_stream_is_an_error(gateway, fault):
    gateway.add_provider("alpha")
    gateway.fake.set_fault("alpha", fault)
    response = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        stream=True,
    )
    if response.status_code == 200:
        events = sse_events(response)
        assert any(isinstance(e, dict) and "error" in e for e in events)
    else:
        assert response.status_code == 502
