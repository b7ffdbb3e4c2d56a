"""The Gemini translation checked against the real protocol (issue 17 items 12, 13, 15, 18, 20).

Every body the fake receives is also validated against the google-genai SDK's types
(tests/fake_upstream/sdk_types.py); the `fake` fixture fails a test whose bodies did not match.
"""

import json
from collections import defaultdict

import openai
import pytest

from tests.api.protocol_helpers import MODELS, PNG, add_provider, chat, image_question, last_sent, stream_events
from tests.openapi import assert_valid

USER = [{"role": "user", "content": "one two three"}]


def test_each_streamed_candidate_keeps_its_finish_reason(gateway):
    name = add_provider(gateway, "gemini")
    chunks = list(gateway.openai().chat.completions.create(model=MODELS["gemini"], messages=USER, stream=True, n=2))
    texts: dict[int, str] = defaultdict(str)
    finishes: dict[int, list[str]] = defaultdict(list)
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            finishes[choice.index] += [choice.finish_reason] if choice.finish_reason else []
    assert dict(texts) == dict.fromkeys((0, 1), f"Hello from {name}: one two three")
    assert dict(finishes) == {0: ["stop"], 1: ["stop"]}


def test_an_image_url_given_as_a_string_is_sent_inline(gateway):
    name = add_provider(gateway, "gemini")
    sent = image_question(gateway, "gemini", name, image_url=f"data:image/png;base64,{PNG}")
    assert sent["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}


def test_schemas_with_non_string_enums_go_as_plain_json_schema(gateway):
    name = add_provider(gateway, "gemini")
    parameters = {
        "type": "object",
        "properties": {"level": {"type": "integer", "enum": [1, 2, 3]}, "sure": {"const": True}},
        "required": ["level"],
    }
    tool = {"type": "function", "function": {"name": "rate", "parameters": parameters}}
    response = chat(gateway, "gemini", "rate it", tools=[tool])
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {
        "echo": "rate it"
    }
    declaration = last_sent(gateway, name).json["tools"][0]["functionDeclarations"][0]
    assert declaration["parametersJsonSchema"] == parameters and "parameters" not in declaration
    response_format = {"type": "json_schema", "json_schema": {"name": "rating", "schema": parameters}}
    response = chat(gateway, "gemini", "rate it", response_format=response_format)
    assert response.status_code == 200, response.text
    assert last_sent(gateway, name).json["generationConfig"]["responseJsonSchema"] == parameters


def test_a_malformed_function_call_is_an_error_the_client_sees(gateway):
    name = add_provider(gateway, "gemini")
    gateway.fake.set_option(name, finish_reason="MALFORMED_FUNCTION_CALL")
    with pytest.raises(openai.APIStatusError) as raised:
        gateway.openai().chat.completions.create(model=MODELS["gemini"], messages=USER)
    assert raised.value.status_code == 502
    assert "MALFORMED_FUNCTION_CALL" in raised.value.body["message"]
    events = stream_events(gateway, "gemini", USER)
    errors = [event["error"] for event in events if isinstance(event, dict) and "error" in event]
    assert errors and "MALFORMED_FUNCTION_CALL" in errors[0]["message"]
    assert not any(
        choice.get("finish_reason") == "stop" for e in events if isinstance(e, dict) for choice in e.get("choices", [])
    )


def test_top_k_logprobs_and_safety_settings_are_mapped(gateway):
    name = add_provider(gateway, "gemini")
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
    completion = gateway.openai().chat.completions.create(
        model=MODELS["gemini"],
        messages=USER,
        logprobs=True,
        top_logprobs=2,
        extra_body={"top_k": 20, "safety_settings": safety},
    )
    assert_valid("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    tokens = completion.choices[0].logprobs.content
    assert [token.token for token in tokens] == f"Hello from {name}: one two three".split()
    assert tokens[0].logprob == -0.5 and len(tokens[0].top_logprobs) == 3
    body = last_sent(gateway, name).json
    assert body["safetySettings"] == safety
    config = body["generationConfig"]
    assert config["topK"] == 20 and config["responseLogprobs"] is True and config["logprobs"] == 2


def test_the_gemini_object_is_merged_into_the_body(gateway):
    name = add_provider(gateway, "gemini")
    extra = {"gemini": {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}, "cachedContent": "c1"}}
    completion = gateway.openai().chat.completions.create(
        model=MODELS["gemini"], messages=USER, temperature=0.5, extra_body=extra
    )
    assert completion.choices[0].message.content == f"Hello from {name}: one two three"
    body = last_sent(gateway, name).json
    assert body["generationConfig"] == {"temperature": 0.5, "thinkingConfig": {"thinkingBudget": 0}}
    assert body["cachedContent"] == "c1" and "gemini" not in body
