"""Self-tests of tests/openapi: the extracted OpenAI schemas and assert_valid."""

from __future__ import annotations

import copy
import json

import pytest

from tests.openapi import SCHEMAS_FILE, assert_valid, schema_names
from tests.openapi.extract import ROOTS, without_nullable

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-test",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-test",
    "choices": [{"index": 0, "delta": {"content": "Hi"}, "logprobs": None, "finish_reason": None}],
    "usage": None,
}


def test_a_correct_completion_validates():
    assert_valid("CreateChatCompletionResponse", COMPLETION)


def test_a_stream_chunk_with_null_finish_reason_validates():
    assert_valid("CreateChatCompletionStreamResponse", CHUNK)
    assert_valid("CreateChatCompletionStreamResponse", {**CHUNK, "choices": [], "usage": COMPLETION["usage"]})


def test_a_completion_without_choices_fails_with_a_readable_message():
    broken = {key: value for key, value in COMPLETION.items() if key != "choices"}
    with pytest.raises(AssertionError, match=r"at \$: 'choices' is a required property"):
        assert_valid("CreateChatCompletionResponse", broken)


def test_every_error_is_listed_with_its_location():
    broken = copy.deepcopy(COMPLETION)
    broken["choices"][0]["finish_reason"] = "done"
    del broken["choices"][0]["message"]["refusal"]
    with pytest.raises(AssertionError) as raised:
        assert_valid("CreateChatCompletionResponse", broken)
    message = str(raised.value)
    assert "(2 error(s))" in message
    assert "at $.choices[0].finish_reason: 'done' is not one of" in message
    assert "at $.choices[0].message: 'refusal' is a required property" in message


def test_other_response_shapes():
    assert_valid(
        "ErrorResponse", {"error": {"message": "no", "type": "invalid_request_error", "param": None, "code": None}}
    )
    assert_valid(
        "ListModelsResponse",
        {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "x"}]},
    )
    assert_valid("ImagesResponse", {"created": 1, "data": [{"url": "http://x/i.png"}]})
    assert_valid("CreateTranscriptionResponseJson", {"text": "hello"})
    with pytest.raises(AssertionError):
        assert_valid("ErrorResponse", {"error": {"message": "no"}})


def test_unknown_schema_names_are_a_key_error():
    with pytest.raises(KeyError, match="extract.ROOTS"):
        assert_valid("NoSuchSchema", {})


def test_the_committed_file_holds_the_roots_and_no_nullable():
    assert set(ROOTS) <= set(schema_names())
    assert '"nullable"' not in SCHEMAS_FILE.read_text(encoding="utf-8")


def test_nullable_is_rewritten_as_any_of_with_null():
    schema = {
        "type": "object",
        "properties": {
            "nullable": {"type": "string", "enum": ["a"], "nullable": True},
            "items": {"type": "array", "items": {"$ref": "#/x", "nullable": True}},
        },
        "nullable": False,
        "example": {"nullable": True},
    }
    assert without_nullable(schema) == {
        "type": "object",
        "properties": {
            "nullable": {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "null"}]},
            "items": {"type": "array", "items": {"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}},
        },
        "example": {"nullable": True},
    }
    json.dumps(without_nullable(schema))  # still plain JSON
