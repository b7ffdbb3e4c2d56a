"""What the gateway sends to an Anthropic Messages upstream, and what the client gets back.

The fake upstream (tests/fake_upstream/anthropic_protocol.py) refuses what the real API refuses
(no key, no anthropic-version, non-alternating roles, a tool_result that answers no tool_use...), so a
200 here also proves the translated request is valid.
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


def test_headers_path_system_prompt_and_parameters(gateway):
    name = add_provider(gateway, "anthropic")
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
        {"role": "user", "content": "hi"},
    ]
    response = chat(gateway, "anthropic", messages, temperature=1.7, top_p=0.9, stop="END", user="u1", max_tokens=300)
    assert response.status_code == 200, response.text
    sent = last_sent(gateway, name)
    assert sent.method == "POST" and sent.path == f"/{name}/anthropic/v1/messages"
    assert sent.headers["x-api-key"] == KEYS["anthropic"]
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = sent.json
    assert body["model"] == MODELS["anthropic"]
    assert body["system"] == "be brief\n\nbe kind"
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    # Current models refuse temperature with top_p: the temperature is sent, clamped to Anthropic's 0..1.
    assert body["max_tokens"] == 300 and body["temperature"] == 1.0 and "top_p" not in body
    assert body["stop_sequences"] == ["END"] and body["metadata"] == {"user_id": "u1"}
    assert "stream" not in body


def test_max_tokens_is_always_sent(gateway):
    name = add_provider(gateway, "anthropic")
    assert chat(gateway, "anthropic", "hi").status_code == 200
    assert last_sent(gateway, name).json["max_tokens"] == 4096


def test_consecutive_turns_merge_so_roles_alternate(gateway):
    name = add_provider(gateway, "anthropic")
    messages = [
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "ok"},
        {"role": "assistant", "content": "really"},
        {"role": "user", "content": "third"},
    ]
    response = chat(gateway, "anthropic", messages)
    assert response.status_code == 200, response.text
    assert [m["role"] for m in last_sent(gateway, name).json["messages"]] == ["user", "assistant", "user"]
    assert last_sent(gateway, name).json["messages"][0]["content"] == [
        {"type": "text", "text": "first"},
        {"type": "text", "text": "second"},
    ]
    assert response.json()["choices"][0]["message"]["content"] == f"Hello from {name}: third"


def test_vision_data_url_becomes_a_base64_image_block(gateway):
    name = add_provider(gateway, "anthropic")
    blocks = image_question(gateway, "anthropic", name)["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}


def test_tools_round_trip(gateway):
    name = add_provider(gateway, "anthropic")
    asked, call_id, answered = tool_round_trip(gateway, "anthropic", name)
    assert asked["tools"] == [
        {"name": "lookup", "description": "Look a word up.", "input_schema": TOOLS[0]["function"]["parameters"]}
    ]
    assert asked["tool_choice"] == {"type": "auto"}
    assert call_id == "toolu_fake1"
    turns = answered["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [
        {"type": "tool_use", "id": "toolu_fake1", "name": "lookup", "input": {"echo": "find x"}}
    ]
    assert turns[2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_fake1", "content": "42"}]


def test_tool_choice_translations(gateway):
    name = add_provider(gateway, "anthropic")
    named = {"type": "function", "function": {"name": "lookup"}}
    for choice, expected in [("required", {"type": "any"}), (named, {"type": "tool", "name": "lookup"})]:
        assert chat(gateway, "anthropic", "x", tools=TOOLS, tool_choice=choice).status_code == 200
        assert last_sent(gateway, name).json["tool_choice"] == expected
    response = chat(gateway, "anthropic", "x", tools=TOOLS, tool_choice="none")
    assert response.json()["choices"][0]["message"]["content"] == f"Hello from {name}: x"
    assert "tools" not in last_sent(gateway, name).json
    response = chat(gateway, "anthropic", "x", tools=TOOLS, parallel_tool_calls=False)
    assert last_sent(gateway, name).json["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_streamed_tool_call_arrives_as_input_json_deltas(gateway):
    name = add_provider(gateway, "anthropic")
    gateway.fake.set_option(name, chunks=4)
    events = stream_events(gateway, "anthropic", "find y", tools=TOOLS)
    deltas = [e["choices"][0]["delta"] for e in events if isinstance(e, dict) and e["choices"]]
    tool_deltas = [delta["tool_calls"] for delta in deltas if delta.get("tool_calls")]
    assert len(tool_deltas) == 5  # the opening delta (id, name) and the four argument fragments
    opening = {"index": 0, "id": "toolu_fake1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    assert tool_deltas[0] == [opening]
    calls = streamed_tool_calls(events)
    assert calls == [{"id": "toolu_fake1", "name": "lookup", "arguments": json.dumps({"echo": "find y"})}]
    assert finish_reasons(events) == ["tool_calls"]
    assert last_sent(gateway, name).json["stream"] is True


def test_json_mode_asks_in_the_system_prompt(gateway):
    name = add_provider(gateway, "anthropic")
    response = chat(gateway, "anthropic", "data", response_format={"type": "json_object"})
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == {"echo": "data"}
    assert "JSON" in last_sent(gateway, name).json["system"]
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "echo", "schema": schema}}
    response = chat(
        gateway,
        "anthropic",
        [{"role": "system", "content": "terse"}, {"role": "user", "content": "d"}],
        response_format=response_format,
    )
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == {"echo": "d"}
    system = last_sent(gateway, name).json["system"]
    assert system.startswith("terse\n\n") and json.dumps(schema, separators=(",", ":")) in system


def test_stop_reasons_become_finish_reasons(gateway):
    add_provider(gateway, "anthropic")
    length = chat(gateway, "anthropic", "one two three", max_tokens=2).json()
    assert length["choices"][0]["finish_reason"] == "length"
    assert length["choices"][0]["message"]["content"] == "Hello from"
    stopped = chat(gateway, "anthropic", "one two three", stop=["two"]).json()
    assert stopped["choices"][0]["finish_reason"] == "stop"
    assert stopped["choices"][0]["message"]["content"] == "Hello from anthropic-fake: one "
    streamed = stream_events(gateway, "anthropic", "one two three", max_tokens=3)
    assert finish_reasons(streamed) == ["length"] and streamed_text(streamed) == "Hello from anthropic-fake:"


def test_more_than_one_choice_is_refused_clearly(gateway):
    name = add_provider(gateway, "anthropic")
    response = chat(gateway, "anthropic", "x", n=2)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "n"
    assert gateway.fake.requests_for(name) == []


def test_upstream_rejection_of_the_request_is_a_400(gateway):
    add_provider(gateway, "anthropic")
    gateway.fake.set_fault("anthropic-fake", "400")
    response = chat(gateway, "anthropic", "x")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upstream_bad_request"
