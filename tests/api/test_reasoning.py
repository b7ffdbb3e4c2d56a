"""Reasoning both ways: chat's `reasoning_effort` reaches Anthropic as a thinking budget and Gemini as
`thinkingConfig`, and their thinking comes back as `reasoning_content` in answers and stream deltas;
OpenAI-compatible upstreams get `reasoning_effort` as it is and their `reasoning_content` passes through.

The fake upstream refuses thinking requests the real APIs refuse (budget under 1024 or not under
max_tokens, temperature, a forced tool, a tool-result turn without the earlier thinking block)."""

import json

import pytest

from completions.upstream.adapters.reasoning import THINKING_BUDGETS
from tests.api.protocol_helpers import (
    MODELS,
    TOOLS,
    add_provider,
    chat,
    last_sent,
    stream_events,
    streamed_text,
)
from tests.openapi import assert_valid


def streamed_reasoning(events: list) -> str:
    return "".join(
        choice["delta"].get("reasoning_content") or ""
        for event in events
        if isinstance(event, dict)
        for choice in event.get("choices") or ()
    )


@pytest.mark.parametrize("effort", ["low", "high"])
def test_anthropic_thinking_budget_and_reasoning_content(gateway, effort):
    name = add_provider(gateway, "anthropic")
    client = gateway.openai()
    completion = client.chat.completions.create(
        model=MODELS["anthropic"],
        messages=[{"role": "user", "content": "hi"}],
        reasoning_effort=effort,
        temperature=0.3,
        top_p=0.5,
    )
    message = completion.choices[0].message
    assert message.content == f"Hello from {name}: hi"
    assert message.model_extra["reasoning_content"] == "Thinking about: hi"
    sent = last_sent(gateway, name).json
    budget = THINKING_BUDGETS[effort]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert sent["max_tokens"] == (4096 if budget < 4096 else 4096 + budget)
    assert "temperature" not in sent and "top_p" not in sent


def test_anthropic_keeps_a_max_tokens_above_the_budget(gateway):
    name = add_provider(gateway, "anthropic")
    response = chat(gateway, "anthropic", "hi", reasoning_effort="medium", max_tokens=9000)
    assert response.status_code == 200, response.text
    assert_valid("CreateChatCompletionResponse", response.json())
    sent = last_sent(gateway, name).json
    assert sent["thinking"]["budget_tokens"] == THINKING_BUDGETS["medium"] and sent["max_tokens"] == 9000


def test_anthropic_stream_carries_reasoning_deltas(gateway):
    name = add_provider(gateway, "anthropic")
    events = stream_events(gateway, "anthropic", "hi there", reasoning_effort="minimal")
    assert streamed_reasoning(events) == "Thinking about: hi there"
    assert streamed_text(events) == f"Hello from {name}: hi there"
    assert last_sent(gateway, name).json["thinking"]["budget_tokens"] == THINKING_BUDGETS["minimal"]


def test_anthropic_sdk_stream(gateway):
    add_provider(gateway, "anthropic")
    stream = gateway.openai().chat.completions.create(
        model=MODELS["anthropic"], messages=[{"role": "user", "content": "why"}], reasoning_effort="low", stream=True
    )
    reasoning = "".join((chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for chunk in stream)
    assert reasoning == "Thinking about: why"


def test_anthropic_without_effort_or_with_none_has_no_thinking(gateway):
    name = add_provider(gateway, "anthropic")
    for fields in ({}, {"reasoning_effort": "none"}):
        response = chat(gateway, "anthropic", "hi", **fields)
        assert response.status_code == 200, response.text
        assert "reasoning_content" not in response.json()["choices"][0]["message"]
        assert "thinking" not in last_sent(gateway, name).json


def test_anthropic_thinking_is_left_out_where_anthropic_refuses_it(gateway):
    name = add_provider(gateway, "anthropic")
    forced = {"type": "function", "function": {"name": "lookup"}}
    response = chat(gateway, "anthropic", "hi", reasoning_effort="high", tools=TOOLS, tool_choice=forced)
    assert response.status_code == 200, response.text
    assert "thinking" not in last_sent(gateway, name).json
    call = response.json()["choices"][0]["message"]["tool_calls"][0]
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "found"},
    ]
    response = chat(gateway, "anthropic", messages, reasoning_effort="high", tools=TOOLS)
    assert response.status_code == 200, response.text
    assert "thinking" not in last_sent(gateway, name).json
    assert response.json()["choices"][0]["message"]["content"] == "Tool said: found"


@pytest.mark.parametrize("effort", ["low", "xhigh"])
def test_gemini_thinking_config_and_reasoning_content(gateway, effort):
    name = add_provider(gateway, "gemini")
    response = chat(gateway, "gemini", "hi", reasoning_effort=effort)
    assert response.status_code == 200, response.text
    assert_valid("CreateChatCompletionResponse", response.json())
    sent = last_sent(gateway, name).json
    assert sent["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": THINKING_BUDGETS[effort],
        "includeThoughts": True,
    }
    body = response.json()
    assert body["choices"][0]["message"]["reasoning_content"] == "Thinking about: hi"
    assert body["choices"][0]["message"]["content"] == f"Hello from {name}: hi"
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 3


def test_gemini_stream_carries_reasoning_deltas(gateway):
    name = add_provider(gateway, "gemini")
    events = stream_events(gateway, "gemini", "hi you", reasoning_effort="medium")
    assert streamed_reasoning(events) == "Thinking about: hi you"
    assert streamed_text(events) == f"Hello from {name}: hi you"


def test_gemini_effort_none_turns_thinking_off(gateway):
    name = add_provider(gateway, "gemini")
    response = chat(gateway, "gemini", "hi", reasoning_effort="none")
    assert response.status_code == 200, response.text
    assert last_sent(gateway, name).json["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}
    assert "reasoning_content" not in response.json()["choices"][0]["message"]


def test_openai_compatible_reasoning_passes_through(gateway):
    gateway.add_provider("deepthink")
    client = gateway.openai()
    completion = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}], reasoning_effort="high"
    )
    assert completion.choices[0].message.model_extra["reasoning_content"] == "Thinking about: hi"
    assert gateway.fake.requests_for("deepthink")[-1].json["reasoning_effort"] == "high"
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "yo"}], "stream": True}
    response = gateway.post("/v1/chat/completions", {**body, "reasoning_effort": "low"}, stream=True)
    events = [line for line in response.iter_lines() if line.startswith(b"data: {")]
    chunks = [json.loads(line[6:]) for line in events]
    assert streamed_reasoning(chunks) == "Thinking about: yo"


def test_an_unknown_effort_is_refused(gateway):
    gateway.add_provider("deepthink")
    response = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "extreme"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "reasoning_effort"
    assert gateway.fake.requests_for("deepthink") == []
