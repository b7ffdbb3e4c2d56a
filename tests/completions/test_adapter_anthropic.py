"""The Anthropic adapter: exact Messages API requests, and OpenAI-shaped answers and chunks."""

import asyncio

import httpx2
import orjson
import pytest

from completions import errors
from completions.upstream.adapters.anthropic import AnthropicAdapter
from completions.upstream.adapters.base import UpstreamTarget
from tests.openapi import assert_valid

TARGET = UpstreamTarget(
    provider="claude", base_url="https://api.anthropic.com", upstream_model="claude-sonnet-4-5", api_key="sk-ant-test"
)
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
HELLO = {"role": "user", "content": "Hi"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def weather_call(city: str) -> dict:
    return {"name": "get_weather", "arguments": orjson.dumps({"city": city}).decode()}


class Upstream:
    """A MockTransport that records requests and answers with a canned response."""

    def __init__(self, response: httpx2.Response | list[httpx2.Response]):
        self.responses = response if isinstance(response, list) else [response]
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.responses[min(len(self.requests), len(self.responses)) - 1]

    def run(self, method: str, *args):
        async def go():
            async with httpx2.AsyncClient(transport=httpx2.MockTransport(self)) as client:
                result = getattr(AnthropicAdapter(client), method)(TARGET, *args)
                if method == "chat_stream":
                    return [chunk async for chunk in result]
                return await result

        return asyncio.run(go())

    @property
    def body(self):
        return orjson.loads(self.requests[-1].content)


def sse(*events: tuple[str, dict]) -> httpx2.Response:
    text = "".join(f"event: {name}\ndata: {orjson.dumps(data).decode()}\n\n" for name, data in events)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=text.encode())


MESSAGE = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": "I'll check the weather in Paris."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 472, "output_tokens": 91, "cache_read_input_tokens": 100},
}


def test_chat_request_is_translated_to_the_messages_api():
    upstream = Upstream(httpx2.Response(200, json=MESSAGE))
    payload = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hi"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris and Rome? Also see these."},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": weather_call("Paris")},
                    {"id": "toolu_2", "type": "function", "function": weather_call("Rome")},
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, sunny"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "21C, cloudy"}]},
            {"role": "user", "content": "Which is warmer?"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 1.6,
        "top_p": 0.9,
        "stop": "END",
        "user": "user-42",
        "response_format": {"type": "json_object"},
    }
    upstream.run("chat", payload)

    request = upstream.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert upstream.body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "system": "You are terse.\n\nAnswer in French.\n\n"
        "Respond only with one valid JSON object, with no text before or after it.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hi"},
                    {"type": "text", "text": "Weather in Paris and Rome? Also see these."},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "21C, cloudy"},
                    {"type": "text", "text": "Which is warmer?"},
                ],
            },
        ],
        "temperature": 1.0,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
        "tools": [
            {
                "name": "get_weather",
                "description": "Current weather for a city",
                "input_schema": WEATHER_TOOL["function"]["parameters"],
            }
        ],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }


def test_chat_answer_becomes_a_chat_completion():
    upstream = Upstream(httpx2.Response(200, json=MESSAGE))
    completion = upstream.run("chat", {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]})
    assert_valid("CreateChatCompletionResponse", completion)
    assert completion["object"] == "chat.completion"
    assert completion["id"] == "msg_01Aq9w938a90dw8q"
    assert completion["model"] == "claude-sonnet-4-5-20250929"
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "I'll check the weather in Paris.",
        "refusal": None,
        "tool_calls": [
            {
                "id": "toolu_01A09q90qw90lq917835lq9",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert completion["usage"] == {
        "prompt_tokens": 572,
        "completion_tokens": 91,
        "total_tokens": 663,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    assert upstream.body["max_tokens"] == 4096


@pytest.mark.parametrize(
    "stop_reason, finish_reason",
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls")],
)
def test_stop_reason_maps_to_finish_reason(stop_reason, finish_reason):
    message = {**MESSAGE, "content": [{"type": "text", "text": "ok"}], "stop_reason": stop_reason}
    completion = Upstream(httpx2.Response(200, json=message)).run(
        "chat", {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10}
    )
    assert completion["choices"][0]["finish_reason"] == finish_reason
    assert completion["choices"][0]["message"]["content"] == "ok"


@pytest.mark.parametrize(
    "tool_choice, expected",
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
        ("none", None),
    ],
)
def test_tool_choice(tool_choice, expected):
    upstream = Upstream(httpx2.Response(200, json=MESSAGE))
    messages = [{"role": "user", "content": "Hi"}]
    upstream.run("chat", {"model": "m", "messages": messages, "tools": [WEATHER_TOOL], "tool_choice": tool_choice})
    assert upstream.body.get("tool_choice") == expected
    assert ("tools" in upstream.body) is (expected is not None)


def test_tool_choice_none_keeps_tools_when_the_history_uses_them():
    upstream = Upstream(httpx2.Response(200, json=MESSAGE))
    call = {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
    ]
    payload = {"model": "m", "messages": messages, "tools": [WEATHER_TOOL], "tool_choice": "none"}
    upstream.run("chat", {**payload, "parallel_tool_calls": False})
    assert upstream.body["tool_choice"] == {"type": "none"}
    assert len(upstream.body["tools"]) == 1


def test_json_schema_response_format_adds_a_system_instruction():
    upstream = Upstream(httpx2.Response(200, json=MESSAGE))
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    upstream.run(
        "chat",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_completion_tokens": 77,
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        },
    )
    assert upstream.body["max_tokens"] == 77
    expected = 'It must match this JSON schema: {"type":"object","properties":{"answer":{"type":"string"}}}'
    assert upstream.body["system"].endswith(expected)


def test_n_above_one_is_refused():
    upstream = Upstream(httpx2.Response(200, json=MESSAGE))
    with pytest.raises(errors.ValidationFailed) as caught:
        upstream.run("chat", {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "n": 2})
    assert caught.value.param == "n"
    assert upstream.requests == []


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
    upstream = Upstream(sse(*STREAM_EVENTS))
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
    upstream = Upstream(sse(*STREAM_EVENTS[:5]))

    async def collect(adapter, received):
        async for chunk in adapter.chat_stream(TARGET, {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}):
            received.append(chunk)

    async def go(received):
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(upstream)) as client:
            await collect(AnthropicAdapter(client), received)

    received: list[dict] = []
    with pytest.raises(errors.ProviderError) as caught:
        asyncio.run(go(received))
    assert caught.value.code == "stream_truncated"
    assert [chunk["choices"][0]["delta"].get("content") for chunk in received] == ["", "Okay", ", let's check."]


def test_stream_error_event_raises():
    overloaded = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    upstream = Upstream(sse(STREAM_EVENTS[0], overloaded))
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
    upstream = Upstream(httpx2.Response(status, json=body, headers={"retry-after": "7"}))
    for method in ("chat", "chat_stream"):
        with pytest.raises(expected) as caught:
            upstream.run(method, {"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
        assert message in caught.value.message
    if expected is errors.RateLimited:
        assert caught.value.retry_after == 7


def test_exhausted_credit_is_the_providers_fault():
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": "Your credit balance is too low"}}
    with pytest.raises(errors.ProviderError) as caught:
        Upstream(httpx2.Response(400, json=body)).run("chat", {"model": "m", "messages": [HELLO]})
    assert not isinstance(caught.value, errors.InvalidRequest)


def test_list_models_follows_pages():
    page_one = {
        "data": [{"type": "model", "id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5"}],
        "has_more": True,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-sonnet-4-5-20250929",
    }
    page_two = {"data": [{"type": "model", "id": "claude-haiku-4-5", "display_name": "Haiku 4.5"}], "has_more": False}
    upstream = Upstream([httpx2.Response(200, json=page_one), httpx2.Response(200, json=page_two)])
    models = upstream.run("list_models")
    assert [model["id"] for model in models] == ["claude-sonnet-4-5-20250929", "claude-haiku-4-5"]
    assert [str(request.url) for request in upstream.requests] == [
        "https://api.anthropic.com/v1/models?limit=1000",
        "https://api.anthropic.com/v1/models?limit=1000&after_id=claude-sonnet-4-5-20250929",
    ]
    assert all(request.headers["x-api-key"] == "sk-ant-test" for request in upstream.requests)
    assert all(request.headers["anthropic-version"] == "2023-06-01" for request in upstream.requests)
