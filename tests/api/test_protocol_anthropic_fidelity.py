"""The Anthropic translation checked against the real protocol (issue 17 items 13, 14, 17, 20).

Every body the fake receives is also validated against the anthropic SDK's `MessageCreateParams`
(tests/fake_upstream/sdk_types.py); the `fake` fixture fails a test whose bodies did not match.
"""

import json

import pytest

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
)
from tests.openapi import assert_valid

STRUCTURED_MODEL = "claude-sonnet-4-5"  # a model with native structured output


def test_an_image_url_given_as_a_string_is_sent_as_an_image(gateway):
    name = add_provider(gateway, "anthropic")
    sent = image_question(gateway, "anthropic", name, image_url=f"data:image/png;base64,{PNG}")
    block = sent["messages"][0]["content"][1]
    assert block == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}


@pytest.mark.parametrize(
    "fields, sent",
    [
        ({"temperature": 0.3, "top_p": 0.9}, {"temperature": 0.3}),
        ({"top_p": 0.9}, {"top_p": 0.9}),
        ({}, {}),
        ({"top_k": 5, "temperature": 0.5}, {"temperature": 0.5, "top_k": 5}),
    ],
)
def test_at_most_one_of_temperature_and_top_p_and_only_what_the_client_set(gateway, fields, sent):
    name = add_provider(gateway, "anthropic")
    completion = gateway.openai().chat.completions.create(
        model=MODELS["anthropic"], messages=[{"role": "user", "content": "hi"}], extra_body=fields
    )
    assert completion.choices[0].message.content == f"Hello from {name}: hi"
    body = last_sent(gateway, name).json
    assert {key: body[key] for key in ("temperature", "top_p", "top_k") if key in body} == sent


def test_system_messages_alone_are_refused_before_calling_anthropic(gateway):
    name = add_provider(gateway, "anthropic")
    response = chat(gateway, "anthropic", [{"role": "system", "content": "be brief"}])
    assert response.status_code == 400
    assert_valid("ErrorResponse", response.json())
    assert response.json()["error"]["param"] == "messages"
    assert gateway.fake.requests_for(name) == []


@pytest.mark.parametrize(
    "part, refused",
    [
        ({"type": "image_url", "image_url": {"url": f"data:image/bmp;base64,{PNG}"}}, "image/bmp"),
        ({"type": "image_url", "image_url": {"url": f"data:image/svg+xml;base64,{PNG}"}}, "image/svg+xml"),
        ({"type": "file", "file": {"filename": "a.csv", "file_data": "data:text/csv;base64,YSxi"}}, "text/csv"),
    ],
)
def test_parts_anthropic_refuses_are_a_400_naming_the_part(gateway, part, refused):
    name = add_provider(gateway, "anthropic")
    response = chat(gateway, "anthropic", [{"role": "user", "content": [{"type": "text", "text": "x"}, part]}])
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "messages[0].content[1]" in message and refused in message
    assert gateway.fake.requests_for(name) == []


def test_a_pdf_file_becomes_a_document_block(gateway):
    name = add_provider(gateway, "anthropic")
    part = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}}
    response = chat(gateway, "anthropic", [{"role": "user", "content": [{"type": "text", "text": "x"}, part]}])
    assert response.status_code == 200, response.text
    assert last_sent(gateway, name).json["messages"][0]["content"][1]["type"] == "document"


def test_images_in_a_tool_result_are_image_blocks_inside_it(gateway):
    name = add_provider(gateway, "anthropic")
    call = {"id": "toolu_fake1", "type": "function", "function": {"name": "lookup", "arguments": '{"echo": "x"}'}}
    tool_content = [
        {"type": "text", "text": "a chart"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    messages = [
        {"role": "user", "content": "draw"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "toolu_fake1", "content": tool_content},
    ]
    response = chat(gateway, "anthropic", messages, tools=TOOLS)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Tool said: a chart [images: 1]"
    result = last_sent(gateway, name).json["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and [block["type"] for block in result["content"]] == ["text", "image"]


def test_server_tool_blocks_are_not_relayed_as_tool_calls(gateway):
    name = add_provider(gateway, "anthropic")
    gateway.fake.set_option(name, server_tool_blocks=True, chunks=3)
    events = stream_events(gateway, "anthropic", "news")
    assert streamed_tool_calls(events) == []
    assert streamed_text(events) == f"Hello from {name}: news" and finish_reasons(events) == ["stop"]
    completion = chat(gateway, "anthropic", "news").json()
    assert completion["choices"][0]["message"]["content"] == f"Hello from {name}: news"
    assert "tool_calls" not in completion["choices"][0]["message"]


def test_json_schema_uses_native_structured_output_where_the_model_has_it(gateway):
    name = "claude-new"
    gateway.add_provider(name, models=[STRUCTURED_MODEL], adapter="anthropic", api_key=KEYS["anthropic"])
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    schema["additionalProperties"] = False
    response_format = {"type": "json_schema", "json_schema": {"name": "echo", "strict": True, "schema": schema}}
    tool = {**TOOLS[0], "function": {**TOOLS[0]["function"], "strict": True}}
    body = {
        "model": STRUCTURED_MODEL,
        "messages": [{"role": "user", "content": "d"}],
        "response_format": response_format,
    }
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == {"echo": "d"}
    sent = last_sent(gateway, name).json
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}} and "system" not in sent
    gateway.post("/v1/chat/completions", {**body, "response_format": None, "tools": [tool]})
    assert last_sent(gateway, name).json["tools"][0]["strict"] is True
    # A model without structured outputs gets the instruction in the system prompt instead.
    older = add_provider(gateway, "anthropic")
    chat(gateway, "anthropic", "d", response_format=response_format, tools=[tool], tool_choice="none")
    assert "output_config" not in last_sent(gateway, older).json and "JSON" in last_sent(gateway, older).json["system"]


def test_the_anthropic_object_is_merged_into_the_body_and_kept_from_other_protocols(gateway):
    name = add_provider(gateway, "anthropic")
    extra = {"anthropic": {"metadata": {"user_id": "from-extra"}, "service_tier": "standard_only"}}
    completion = gateway.openai().chat.completions.create(
        model=MODELS["anthropic"], messages=[{"role": "user", "content": "hi"}], user="u1", extra_body=extra
    )
    assert completion.choices[0].message.content == f"Hello from {name}: hi"
    body = last_sent(gateway, name).json
    assert body["metadata"] == {"user_id": "from-extra"} and body["service_tier"] == "standard_only"
    assert "anthropic" not in body
    gateway.add_provider("plain")
    gateway.openai().chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}], extra_body={**extra, "gemini": {"x": 1}}
    )
    sent = last_sent(gateway, "plain").json
    assert "anthropic" not in sent and "gemini" not in sent
