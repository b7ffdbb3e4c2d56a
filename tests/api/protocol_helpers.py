"""Helpers for the protocol tests (test_protocols.py, test_protocol_anthropic.py, test_protocol_gemini.py):
a provider of one upstream protocol on the fake upstream, chat requests for it, and readers of streams."""

import json
from typing import Any

from tests.openapi import assert_valid

# A 1x1 PNG, for vision requests.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGMQ8Pm/AAKeAZ/yGbkXAAAAAElFTkSuQmCC"
MODELS = {"anthropic": "claude-fake", "gemini": "gemini-fake"}
KEYS = {"anthropic": "sk-ant-test", "gemini": "gm-test-key"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up.",
            "parameters": {
                "type": "object",
                "properties": {"echo": {"type": "string"}},
                "required": ["echo"],
                "additionalProperties": False,
            },
        },
    }
]


def add_provider(gateway, adapter: str, name: str | None = None, **fields: Any) -> str:
    """A provider of `adapter`'s protocol served by the fake, with a key; returns its name."""
    name = name or f"{adapter}-fake"
    fields.setdefault("api_key", KEYS[adapter])
    gateway.add_provider(name, models=[MODELS[adapter]], adapter=adapter, **fields)
    return name


def chat(gateway, adapter: str, messages: list[dict[str, Any]] | str, **fields: Any):
    """POST /v1/chat/completions for `adapter`'s model; a string is one user message."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return gateway.post("/v1/chat/completions", {"model": MODELS[adapter], "messages": messages, **fields})


def stream_events(gateway, adapter: str, messages: list[dict[str, Any]] | str, **fields: Any) -> list[Any]:
    """The SSE data of a streamed chat: chunks (each validated against OpenAI's schema), error events
    (validated as ErrorResponse-like), then "[DONE]"."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    body = {"model": MODELS[adapter], "messages": messages, "stream": True, **fields}
    response = gateway.post("/v1/chat/completions", body, stream=True)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events: list[Any] = []
    for line in response.iter_lines():
        if not line.startswith(b"data: "):
            continue
        payload = line[6:]
        if payload == b"[DONE]":
            events.append("[DONE]")
            continue
        event = json.loads(payload)
        if "error" in event:
            assert set(event["error"]) == {"message", "type", "param", "code"}
        else:
            assert_valid("CreateChatCompletionStreamResponse", event)
        events.append(event)
    assert events and events[-1] == "[DONE]"
    return events


def streamed_text(events: list[Any]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for event in events
        if isinstance(event, dict)
        for choice in event.get("choices") or ()
    )


def streamed_tool_calls(events: list[Any]) -> list[dict[str, Any]]:
    """Tool call deltas merged by index, as a client accumulates them."""
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        if not isinstance(event, dict):
            continue
        for choice in event.get("choices") or ():
            for delta in choice["delta"].get("tool_calls") or ():
                call = calls.setdefault(delta["index"], {"id": None, "name": None, "arguments": ""})
                call["id"] = delta.get("id") or call["id"]
                function = delta.get("function") or {}
                call["name"] = function.get("name") or call["name"]
                call["arguments"] += function.get("arguments") or ""
    return [calls[index] for index in sorted(calls)]


def finish_reasons(events: list[Any]) -> list[str]:
    return [
        choice["finish_reason"]
        for event in events
        if isinstance(event, dict)
        for choice in event.get("choices") or ()
        if choice.get("finish_reason")
    ]


def last_sent(gateway, name: str):
    """The last request the fake upstream received for provider `name`."""
    requests = gateway.fake.requests_for(name)
    assert requests, f"the fake upstream received nothing for {name}"
    return requests[-1]


def image_question(gateway, adapter: str, name: str, image_url: Any = None) -> dict[str, Any]:
    """Ask "what is this" about a PNG data URL (the `image_url` part's value: by default the object
    `{"url": ...}`) and check the answer counts the image; returns the body the upstream received."""
    data_url = f"data:image/png;base64,{PNG}"
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": data_url} if image_url is None else image_url},
    ]
    response = chat(gateway, adapter, [{"role": "user", "content": content}])
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == f"Hello from {name}: what is this [images: 1]"
    return last_sent(gateway, name).json


def tool_round_trip(gateway, adapter: str, name: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Ask "find x" with TOOLS through the openai SDK, check the client gets a `lookup` call, answer it
    with "42" and check the final answer. Returns the body the upstream received for the question, the
    call's id, and the body it received for the answer."""
    client = gateway.openai()
    question = {"role": "user", "content": "find x"}
    first = client.chat.completions.create(model=MODELS[adapter], messages=[question], tools=TOOLS)
    assert_valid("CreateChatCompletionResponse", first.model_dump(exclude_unset=True))
    asked = last_sent(gateway, name).json
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"echo": "find x"}
    answer = {"role": "tool", "tool_call_id": call.id, "content": "42"}
    messages = [question, choice.message.model_dump(exclude_none=True), answer]
    second = client.chat.completions.create(model=MODELS[adapter], tools=TOOLS, messages=messages)
    assert second.choices[0].message.content == "Tool said: 42"
    assert second.choices[0].finish_reason == "stop"
    return asked, call.id, last_sent(gateway, name).json
