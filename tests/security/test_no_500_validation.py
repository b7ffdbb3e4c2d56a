"""Client input that used to crash the gateway with a 500 and a traceback: now a 400 naming `param`.

Every request goes through the live gateway over HTTP; every error body must be OpenAI's ErrorResponse.
"""

import pytest

from tests.api.protocol_helpers import MODELS, add_provider
from tests.openapi import assert_valid

USER = [{"role": "user", "content": "hi"}]


def nested(depth: int) -> list:
    """A list nested `depth` levels deep: [[[...]]]."""
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def assert_error(response, status: int, param: str | None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert_valid("ErrorResponse", body)
    assert body["error"]["param"] == param, body
    return body["error"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("metadata", nested(256)),
        ("tools", [{"type": "function", "function": {"name": "f", "parameters": {"x": nested(300)}}}]),
        ("response_format", {"type": "json_schema", "json_schema": {"schema": {"a": nested(200)}}}),
    ],
)
def test_deeply_nested_chat_field_is_refused(gateway, field, value):
    gateway.add_provider("alpha")
    body = {"model": "fake-model", "messages": USER, field: value}
    error = assert_error(gateway.post("/v1/chat/completions", body), 400, field)
    assert "nested" in error["message"]
    assert gateway.fake.requests_for("alpha") == []


def test_deeply_nested_message_is_refused(gateway):
    gateway.add_provider("alpha")
    messages = [{"role": "user", "content": "hi", "extra": nested(256)}]
    assert_error(gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": messages}), 400, "messages")


def test_reasonable_nesting_still_passes(gateway):
    gateway.add_provider("alpha")
    body = {"model": "fake-model", "messages": USER, "metadata": {"a": nested(40)}}
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert gateway.fake.requests_for("alpha")[0].json["metadata"] == {"a": nested(40)}


def test_deeply_nested_image_field_is_refused(gateway):
    gateway.add_provider("pix", models=["fake-image"], capabilities=("image",))
    body = {"model": "fake-image", "prompt": "x", "quality": nested(256)}
    assert_error(gateway.post("/v1/images/generations", body), 400, "quality")


@pytest.mark.parametrize("size", ["²x²", "1024x²", "٣٠٠x٣٠٠", "1024x1024x1", " 512x512"])
def test_image_size_with_non_ascii_digits_is_refused(gateway, size):
    gateway.add_provider("pix", models=["fake-image"], capabilities=("image",))
    body = {"model": "fake-image", "prompt": "x", "size": size}
    assert_error(gateway.post("/v1/images/generations", body), 400, "size")


@pytest.mark.parametrize("response_format", [{}, [], {"a": 1}, ["mp3"], 5, True])
def test_speech_response_format_that_is_not_a_string_is_refused(gateway, response_format):
    gateway.add_provider("voice", models=["tts-fake"], capabilities=("speech",))
    body = {"model": "tts-fake", "input": "hello", "response_format": response_format}
    assert_error(gateway.post("/v1/audio/speech", body), 400, "response_format")


MALFORMED_MESSAGES = [
    [{"role": [], "content": "x"}],
    [{"role": "user", "content": [{"type": ["text"], "text": "x"}]}],
    [{"role": "user", "content": [{"type": "input_audio", "input_audio": 5}]}],
    [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": 5, "format": "wav"}}]}],
    [{"role": "user", "content": [{"type": "file", "file": "x"}]}],
    [{"role": "user", "content": [{"type": "file", "file": {"file_data": 7}}]}],
    [*USER, {"role": "assistant", "content": [{"type": "refusal", "refusal": 5}]}, *USER],
    [*USER, {"role": "assistant", "content": [{"type": "refusal", "refusal": ["no"]}]}, *USER],
    [*USER, {"role": "assistant", "content": None, "tool_calls": [5]}, *USER],
    [*USER, {"role": "assistant", "content": None, "tool_calls": 5}, *USER],
    [*USER, {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": 5}]}, *USER],
    [*USER, {"role": "assistant", "content": "x", "tool_calls": [{"function": {"name": 5, "arguments": "{}"}}]}],
    [*USER, {"role": "assistant", "content": "x", "tool_calls": [{"function": {"name": "f", "arguments": 5}}]}],
    [{"role": "tool", "content": "x", "tool_call_id": 5}, *USER],
    [{"role": "user", "content": "x", "name": 5}],
]


@pytest.mark.parametrize("adapter", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("messages", MALFORMED_MESSAGES)
def test_malformed_message_parts_are_refused_for_every_protocol(gateway, adapter, messages):
    if adapter == "openai":
        gateway.add_provider("plain", models=["plain-model"])
        model = "plain-model"
    else:
        add_provider(gateway, adapter)
        model = MODELS[adapter]
    for stream in (False, True):
        body = {"model": model, "messages": messages, "stream": stream}
        error = assert_error(gateway.post("/v1/chat/completions", body), 400, "messages")
        assert error["code"] == "invalid_value"
    assert gateway.fake.requests == []


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "definitions": [1], "properties": {"a": {"type": "string"}}},
        {"type": "object", "$defs": "x", "properties": {"a": {"$ref": "#/$defs/a"}}},
    ],
)
def test_odd_tool_schema_reaches_gemini_without_a_crash(gateway, parameters):
    name = add_provider(gateway, "gemini")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": parameters}}]
    body = {"model": MODELS["gemini"], "messages": USER, "tools": tools}
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    sent = gateway.fake.requests_for(name)[-1].json
    declared = sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]
    assert "a" in declared["properties"]
