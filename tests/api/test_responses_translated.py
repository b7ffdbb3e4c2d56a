"""`POST /v1/responses` translated to chat for each upstream protocol (openai without the `responses`
capability, anthropic, gemini): the official openai SDK and raw HTTP against the live gateway, every
answer and event validated against OpenAI's schemas."""

import json

import pytest

from tests.api.responses_helpers import (
    LOOKUP,
    MODELS,
    TRANSLATED,
    add_provider,
    create,
    output_text,
    stream,
    streamed_text,
    types,
)
from tests.openapi import assert_valid

protocols = pytest.mark.parametrize("adapter", TRANSLATED)

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@protocols
def test_sdk_create_answers_with_a_valid_response(gateway, adapter):
    name = add_provider(gateway, adapter)
    client = gateway.openai()
    response = client.responses.create(model=MODELS[adapter], input="one two three", instructions="Be brief.")
    assert response.output_text == f"Hello from {name}: one two three"
    assert response.status == "completed" and response.model == MODELS[adapter]
    assert response.usage.output_tokens == 6 and response.usage.input_tokens > 0

    raw = create(gateway, {"model": MODELS[adapter], "input": "one two three", "metadata": {"run": "7"}})
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert_valid("Response", body)
    assert raw.headers["x-provider"] == name and body["provider"] == name
    assert body["metadata"] == {"run": "7"} and body["store"] is True
    assert output_text(body) == f"Hello from {name}: one two three"
    sent = gateway.fake.requests_for(name)[-1].json
    assert "metadata" not in sent and "instructions" not in sent  # chat fields only, nothing unknown to chat


@protocols
def test_stream_sends_openais_events_and_the_sdk_reads_them(gateway, adapter):
    name = add_provider(gateway, adapter)
    gateway.fake.set_option(name, chunks=3)
    events = stream(gateway, {"model": MODELS[adapter], "input": "hi there"})
    assert [kind for kind in types(events) if kind != "response.output_text.delta"] == [
        kind for kind in TEXT_EVENTS if kind != "response.output_text.delta"
    ]
    assert streamed_text(events) == f"Hello from {name}: hi there"
    for kind in ("response.created", "response.in_progress", "response.completed"):
        assert next(e for e in events if e["type"] == kind)["response"]["object"] == "response"
    completed = events[-1]["response"]
    assert completed["status"] == "completed" and completed["usage"]["output_tokens"] == 5
    assert output_text(completed) == f"Hello from {name}: hi there"

    with gateway.openai().responses.stream(model=MODELS[adapter], input="hi there") as sdk_stream:
        deltas = [event.delta for event in sdk_stream if event.type == "response.output_text.delta"]
        final = sdk_stream.get_final_response()
    assert "".join(deltas) == final.output_text == f"Hello from {name}: hi there"


@protocols
def test_function_call_round_trip_with_previous_response_id(gateway, adapter):
    name = add_provider(gateway, adapter)
    client = gateway.openai()
    first = client.responses.create(model=MODELS[adapter], input="weather", tools=[LOOKUP])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "lookup" and json.loads(calls[0].arguments) == {"echo": "weather"}

    second = client.responses.create(
        model=MODELS[adapter],
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
        tools=[LOOKUP],
    )
    assert second.output_text == "Tool said: sunny" and second.previous_response_id == first.id
    # The provider got the whole exchange: the question, the call and its output.
    assert "weather" in json.dumps(gateway.fake.requests_for(name)[-1].json)

    streamed = stream(
        gateway,
        {
            "model": MODELS[adapter],
            "input": "again",
            "previous_response_id": second.id,
            "tools": [LOOKUP],
            "tool_choice": {"type": "function", "name": "lookup"},
        },
    )
    assert "response.function_call_arguments.delta" in types(streamed)
    done = next(e for e in streamed if e["type"] == "response.function_call_arguments.done")
    assert done["name"] == "lookup" and json.loads(done["arguments"]) == {"echo": "again"}
    item = streamed[-1]["response"]["output"][-1]
    assert item["type"] == "function_call" and item["arguments"] == done["arguments"] and item["call_id"]


@protocols
def test_a_stream_broken_after_its_first_byte_ends_with_response_failed(gateway, adapter):
    name = add_provider(gateway, adapter)
    gateway.fake.set_option(name, chunks=8)
    gateway.fake.set_fault(name, "cut")
    events = stream(gateway, {"model": MODELS[adapter], "input": "one two three four five"})
    assert types(events)[:2] == ["response.created", "response.in_progress"]
    assert types(events)[-1] == "response.failed" and "response.completed" not in types(events)
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert "sk-" not in json.dumps(events) and "gm-test" not in json.dumps(events)


@protocols
def test_json_schema_and_limits_reach_the_provider(gateway, adapter):
    name = add_provider(gateway, adapter)
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    body = {
        "model": MODELS[adapter],
        "input": "alpha beta",
        "text": {"format": {"type": "json_schema", "name": "echo", "schema": schema, "strict": True}},
        "temperature": 0.5,
    }
    answer = create(gateway, body).json()
    assert_valid("Response", answer)
    assert json.loads(output_text(answer)) == {"echo": "alpha beta"}
    assert answer["text"]["format"]["type"] == "json_schema"

    short = create(gateway, {"model": MODELS[adapter], "input": "one two three", "max_output_tokens": 2}).json()
    assert_valid("Response", short)
    assert short["status"] == "incomplete" and short["incomplete_details"] == {"reason": "max_output_tokens"}
    assert output_text(short) == "Hello from"
    assert gateway.fake.requests_for(name)[-1].json is not None


def test_reasoning_content_becomes_a_reasoning_item_with_a_summary(gateway):
    name = add_provider(gateway, "openai")
    gateway.fake.set_option(name, reasoning="Think of a greeting.")
    body = {"model": MODELS["openai"], "input": "hi", "reasoning": {"effort": "high", "summary": "auto"}}
    answer = create(gateway, body).json()
    assert_valid("Response", answer)
    assert [item["type"] for item in answer["output"]] == ["reasoning", "message"]
    assert answer["output"][0]["summary"] == [{"type": "summary_text", "text": "Think of a greeting."}]
    assert gateway.fake.requests_for(name)[-1].json["reasoning_effort"] == "high"

    events = stream(gateway, body)
    assert types(events)[2:9] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
    ]
    completed = events[-1]["response"]
    assert completed["output"][0]["summary"][0]["text"] == "Think of a greeting."
    assert [event["output_index"] for event in events if event["type"] == "response.output_text.delta"] == [1] * 5


def test_items_become_chat_messages_in_order(gateway):
    name = add_provider(gateway, "openai")
    body = {
        "model": MODELS["openai"],
        "instructions": "Be brief.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Use tools."}]},
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "call_9", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_9", "output": "rain"},
        ],
        "max_output_tokens": 50,
    }
    answer = create(gateway, body)
    assert answer.status_code == 200, answer.text
    assert output_text(answer.json()) == "Tool said: rain"
    sent = gateway.fake.requests_for(name)[-1].json
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": [{"type": "text", "text": "Use tools."}]},
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "rain"},
    ]
    assert sent["max_tokens"] == 50
