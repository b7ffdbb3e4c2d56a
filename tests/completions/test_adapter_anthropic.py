"""The Anthropic adapter: exact Messages API requests and OpenAI-shaped answers (streams, errors and
model listing: test_adapter_anthropic_stream.py)."""

import orjson
import pytest

from completions import errors
from completions.upstream.adapters.anthropic import AnthropicAdapter
from completions.upstream.adapters.base import UpstreamTarget
from tests.completions.adapter_harness import AdapterRun
from tests.completions.fake_transport import Reply, replying
from tests.openapi import assert_valid

TARGET = UpstreamTarget(
    provider="claude", base_url="https://api.anthropic.com", upstream_model="claude-sonnet-4-5", api_key="sk-ant-test"
)
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
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


def anthropic_upstream(*replies: Reply) -> AdapterRun:
    """The Anthropic adapter over a fake transport answering with `replies` in turn."""
    return AdapterRun(AnthropicAdapter, TARGET, replying(*replies))


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
    upstream = anthropic_upstream(Reply(200, json=MESSAGE))
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
    upstream = anthropic_upstream(Reply(200, json=MESSAGE))
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
    completion = anthropic_upstream(Reply(200, json=message)).run(
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
    upstream = anthropic_upstream(Reply(200, json=MESSAGE))
    messages = [{"role": "user", "content": "Hi"}]
    upstream.run("chat", {"model": "m", "messages": messages, "tools": [WEATHER_TOOL], "tool_choice": tool_choice})
    assert upstream.body.get("tool_choice") == expected
    assert ("tools" in upstream.body) is (expected is not None)


def test_tool_choice_none_keeps_tools_when_the_history_uses_them():
    upstream = anthropic_upstream(Reply(200, json=MESSAGE))
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
    upstream = anthropic_upstream(Reply(200, json=MESSAGE))
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
    upstream = anthropic_upstream(Reply(200, json=MESSAGE))
    with pytest.raises(errors.ValidationFailed) as caught:
        upstream.run("chat", {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "n": 2})
    assert caught.value.param == "n"
    assert upstream.requests == []
