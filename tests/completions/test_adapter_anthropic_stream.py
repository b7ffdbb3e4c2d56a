"""The Anthropic adapter: stream events as OpenAI chunks, upstream errors as gateway errors, and
model listing (requests and whole answers: test_adapter_anthropic.py)."""

import asyncio

import orjson
import pytest

from completions import errors
from completions.upstream.adapters.anthropic import AnthropicAdapter
from completions.upstream.adapters.base import UpstreamTarget
from tests.completions.adapter_harness import AdapterRun
from tests.completions.fake_transport import Reply, replying, sse_reply
from tests.openapi import assert_valid

TARGET = UpstreamTarget(
    provider="claude", base_url="https://api.anthropic.com", upstream_model="claude-sonnet-4-5", api_key="sk-ant-test"
)
HELLO = {"role": "user", "content": "Hi"}


def anthropic_upstream(*replies: Reply) -> AdapterRun:
    """The Anthropic adapter over a fake transport answering with `replies` in turn."""
    return AdapterRun(AnthropicAdapter, TARGET, replying(*replies))


def sse(*events: tuple[str, dict]) -> Reply:
    return sse_reply("".join(f"event: {name}\ndata: {orjson.dumps(data).decode()}\n\n" for name, data in events))


STREAM_EVENTS = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "stop_sequence": None,
                "usage": {"input_tokens": 472, "output_tokens": 2},
                "content": [],
                "stop_reason": None,
            },
        },
    ),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Okay"}},
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ", let's check."}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "San'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ' Francisco"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def test_stream_events_become_chat_completion_chunks():
    upstream = anthropic_upstream(sse(*STREAM_EVENTS))
    chunks = upstream.run("chat_stream", {"model": "claude-sonnet-4-5", "messages": [HELLO]})
    assert upstream.body["stream"] is True
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk)
        assert chunk["id"] == "msg_014p7gG3wDgGV9EUtLvnow3U"
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "claude-sonnet-4-5-20250929"
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[:-1]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Okay"},
        {"content": ", let's check."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "San'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ' Francisco"}'}}]},
        {},
    ]
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks[:-1]] == [None] * 6 + ["tool_calls"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561}


def test_stream_without_message_stop_is_truncated():
    upstream = anthropic_upstream(sse(*STREAM_EVENTS[:5]))
    received: list[dict] = []

    async def collect():
        async for chunk in AnthropicAdapter(upstream.transport).chat_stream(
            TARGET, {"model": "m", "messages": [HELLO]}
        ):
            received.append(chunk)

    with pytest.raises(errors.ProviderError) as caught:
        asyncio.run(collect())
    assert caught.value.code == "stream_truncated"
    assert [chunk["choices"][0]["delta"].get("content") for chunk in received] == ["", "Okay", ", let's check."]


def test_stream_error_event_raises():
    overloaded = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    upstream = anthropic_upstream(sse(STREAM_EVENTS[0], overloaded))
    with pytest.raises(errors.ProviderError) as caught:
        upstream.run("chat_stream", {"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
    assert "Overloaded" in caught.value.message


@pytest.mark.parametrize(
    "status, error_type, message, expected",
    [
        (401, "authentication_error", "invalid x-api-key", errors.UpstreamAuthFailed),
        (400, "invalid_request_error", "messages: roles must alternate", errors.UpstreamBadRequest),
        (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit", errors.RateLimited),
        (529, "overloaded_error", "Overloaded", errors.ProviderError),
    ],
)
def test_upstream_errors_are_translated(status, error_type, message, expected):
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    upstream = anthropic_upstream(Reply(status, json=body, headers={"retry-after": "7"}))
    for method in ("chat", "chat_stream"):
        with pytest.raises(expected) as caught:
            upstream.run(method, {"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
        assert message in caught.value.message
    if expected is errors.RateLimited:
        assert caught.value.retry_after == 7


def test_exhausted_credit_is_the_providers_fault():
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": "Your credit balance is too low"}}
    for method in ("chat", "chat_stream"):
        with pytest.raises(errors.GatewayError) as caught:
            anthropic_upstream(Reply(400, json=body)).run(method, {"model": "m", "messages": [HELLO]})
        assert type(caught.value) is errors.ProviderOutOfCredit, method
        assert (caught.value.status_code, caught.value.code) == (502, "provider_out_of_credit")
        assert caught.value.message == "HTTP 400: Your credit balance is too low"


def test_list_models_follows_pages():
    page_one = {
        "data": [{"type": "model", "id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5"}],
        "has_more": True,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-sonnet-4-5-20250929",
    }
    page_two = {"data": [{"type": "model", "id": "claude-haiku-4-5", "display_name": "Haiku 4.5"}], "has_more": False}
    upstream = anthropic_upstream(Reply(200, json=page_one), Reply(200, json=page_two))
    models = upstream.run("list_models")
    assert [model["id"] for model in models] == ["claude-sonnet-4-5-20250929", "claude-haiku-4-5"]
    assert [str(request.url) for request in upstream.requests] == [
        "https://api.anthropic.com/v1/models?limit=1000",
        "https://api.anthropic.com/v1/models?limit=1000&after_id=claude-sonnet-4-5-20250929",
    ]
    assert all(request.headers["x-api-key"] == "sk-ant-test" for request in upstream.requests)
    assert all(request.headers["anthropic-version"] == "2023-06-01" for request in upstream.requests)
