"""What the gateway sends to a Gemini upstream, and what the client gets back.

The fake upstream (tests/fake_upstream/gemini_protocol.py) refuses what the real API refuses (no key,
roles other than user/model, parts without exactly one data field, unknown schema keywords such as
additionalProperties...), so a 200 here also proves the translated request is valid.
"""

import json

from tests.api.protocol_helpers import (
    KEYS,
    MODELS,
    PNG,
    TOOLS,
    add_provider,
    chat,
    finish_reasons,
    image_question,
    last_sent,
    stream_events,
    streamed_text,
    streamed_tool_calls,
    tool_round_trip,
)
from tests.openapi import assert_valid


def test_key_path_system_instruction_and_generation_config(gateway):
    name = add_provider(gateway, "gemini")
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]
    response = chat(
        gateway,
        "gemini",
        messages,
        temperature=0.4,
        top_p=0.8,
        max_tokens=300,
        stop=["END"],
        seed=7,
        presence_penalty=0.5,
    )
    assert response.status_code == 200, response.text
    sent = last_sent(gateway, name)
    assert sent.method == "POST" and sent.path == f"/{name}/v1beta/models/{MODELS['gemini']}:generateContent"
    assert sent.headers["x-goog-api-key"] == KEYS["gemini"]
    assert "authorization" not in sent.headers and "key" not in sent.query
    body = sent.json
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "hello"}]},
        {"role": "user", "parts": [{"text": "again"}]},
    ]
    assert body["generationConfig"] == {
        "temperature": 0.4,
        "topP": 0.8,
        "seed": 7,
        "presencePenalty": 0.5,
        "maxOutputTokens": 300,
        "stopSequences": ["END"],
    }
    assert response.json()["choices"][0]["message"]["content"] == f"Hello from {name}: again"


def test_stream_uses_stream_generate_content_with_sse(gateway):
    name = add_provider(gateway, "gemini")
    events = stream_events(gateway, "gemini", "hi")
    assert streamed_text(events) == f"Hello from {name}: hi"
    sent = last_sent(gateway, name)
    assert sent.path == f"/{name}/v1beta/models/{MODELS['gemini']}:streamGenerateContent"
    assert sent.query == {"alt": "sse"}


def test_consecutive_turns_merge(gateway):
    name = add_provider(gateway, "gemini")
    messages = [{"role": "user", "content": "first"}, {"role": "user", "content": "second"}]
    assert chat(gateway, "gemini", messages).status_code == 200
    assert last_sent(gateway, name).json["contents"] == [
        {"role": "user", "parts": [{"text": "first"}, {"text": "second"}]}
    ]


def test_vision_data_url_becomes_inline_data(gateway):
    name = add_provider(gateway, "gemini")
    parts = image_question(gateway, "gemini", name)["contents"][0]["parts"]
    assert parts == [{"text": "what is this"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]


def test_tools_round_trip(gateway):
    name = add_provider(gateway, "gemini")
    asked, call_id, answered = tool_round_trip(gateway, "gemini", name)
    # The JSON Schema goes as it is, in the plain JSON Schema field (no conversion to Gemini's Schema).
    declaration = {"name": "lookup", "description": "Look a word up."}
    declaration["parametersJsonSchema"] = TOOLS[0]["function"]["parameters"]
    assert asked["tools"] == [{"functionDeclarations": [declaration]}]
    assert asked["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert call_id.startswith("call_")
    contents = answered["contents"]
    assert [content["role"] for content in contents] == ["user", "model", "user"]
    replayed_call = {"name": "lookup", "args": {"echo": "find x"}}
    signature = "skip_thought_signature_validator"  # Gemini's documented placeholder
    assert contents[1]["parts"] == [{"functionCall": replayed_call, "thoughtSignature": signature}]
    assert contents[2]["parts"] == [{"functionResponse": {"name": "lookup", "response": {"content": 42}}}]


def test_tool_message_for_an_unknown_call_is_a_400(gateway):
    name = add_provider(gateway, "gemini")
    messages = [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]
    response = chat(gateway, "gemini", messages, tools=TOOLS)
    assert response.status_code == 400 and "nope" in response.json()["error"]["message"]
    assert gateway.fake.requests_for(name) == []


def test_tool_choice_translations(gateway):
    name = add_provider(gateway, "gemini")
    named = {"type": "function", "function": {"name": "lookup"}}
    for choice, expected in [
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (named, {"mode": "ANY", "allowedFunctionNames": ["lookup"]}),
    ]:
        assert chat(gateway, "gemini", "x", tools=TOOLS, tool_choice=choice).status_code == 200
        assert last_sent(gateway, name).json["toolConfig"] == {"functionCallingConfig": expected}


def test_streamed_function_call(gateway):
    name = add_provider(gateway, "gemini")
    events = stream_events(gateway, "gemini", "find y", tools=TOOLS)
    calls = streamed_tool_calls(events)
    assert len(calls) == 1 and calls[0]["name"] == "lookup" and calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == {"echo": "find y"}
    assert finish_reasons(events) == ["tool_calls"]
    assert last_sent(gateway, name).json["tools"][0]["functionDeclarations"][0]["name"] == "lookup"


def test_json_mode_sets_response_mime_type_and_schema(gateway):
    name = add_provider(gateway, "gemini")
    response = chat(gateway, "gemini", "data", response_format={"type": "json_object"})
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == {"echo": "data"}
    assert last_sent(gateway, name).json["generationConfig"] == {"responseMimeType": "application/json"}
    schema = {"type": "object", "properties": {"echo": {"type": ["string", "null"]}}, "additionalProperties": False}
    response_format = {"type": "json_schema", "json_schema": {"name": "echo", "schema": schema}}
    events = stream_events(gateway, "gemini", "d", response_format=response_format)
    assert json.loads(streamed_text(events)) == {"echo": "d"}
    assert last_sent(gateway, name).json["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


def test_finish_reasons_and_several_candidates(gateway):
    add_provider(gateway, "gemini")
    length = chat(gateway, "gemini", "one two three", max_tokens=2).json()
    assert length["choices"][0]["finish_reason"] == "length"
    assert length["choices"][0]["message"]["content"] == "Hello from"
    streamed = stream_events(gateway, "gemini", "one two three", max_tokens=3)
    assert finish_reasons(streamed) == ["length"] and streamed_text(streamed) == "Hello from gemini-fake:"
    two = chat(gateway, "gemini", "hi", n=2).json()
    assert_valid("CreateChatCompletionResponse", two)
    assert [choice["index"] for choice in two["choices"]] == [0, 1]
    assert {choice["message"]["content"] for choice in two["choices"]} == {"Hello from gemini-fake: hi"}
    assert two["usage"]["completion_tokens"] == 8


def test_an_invalid_key_reported_as_400_is_a_provider_auth_failure(gateway):
    """Gemini answers a bad key with 400 API_KEY_INVALID; that is the operator's problem, not the client's."""
    add_provider(gateway, "gemini", api_key="invalid-key")
    response = chat(gateway, "gemini", "x")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_auth_failed"
