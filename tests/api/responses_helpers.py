"""Helpers for the Responses API tests (tests/api/test_responses_*.py): a provider of each upstream
protocol on the fake upstream, and a reader of Responses streams that validates every event."""

import json
from functools import cache
from typing import Any

from tests.api import protocol_helpers
from tests.openapi import SCHEMAS_FILE, assert_valid

MODELS = {"openai": "fake-model", **protocol_helpers.MODELS}
KEYS = {"openai": "sk-openai-test", **protocol_helpers.KEYS}
TRANSLATED = ("openai", "anthropic", "gemini")
# The chat protocol tests' `lookup` tool, in the Responses API's flat function shape.
LOOKUP = {"type": "function", **protocol_helpers.TOOLS[0]["function"]}


def add_provider(gateway, adapter: str, name: str | None = None, *, native: bool = False, **fields: Any) -> str:
    """A provider of `adapter`'s protocol served by the fake; `native` declares the `responses`
    capability (an OpenAI-compatible provider serving /responses itself). Returns its name."""
    name = name or f"{adapter}-{'native' if native else 'fake'}"
    capabilities = ("chat", "vision", "tools", "json", *(("responses",) if native else ()))
    fields.setdefault("api_key", KEYS[adapter])
    gateway.add_provider(name, models=[MODELS[adapter]], adapter=adapter, capabilities=capabilities, **fields)
    return name


@cache
def event_schemas() -> dict[str, str]:
    """Each stream event type's own schema name, from the branches of `ResponseStreamEvent`."""
    schemas = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))["components"]["schemas"]
    names = {}
    for branch in schemas["ResponseStreamEvent"]["anyOf"]:
        name = branch["$ref"].rsplit("/", 1)[-1]
        names[schemas[name]["properties"]["type"]["enum"][0]] = name
    return names


def assert_valid_event(event: dict[str, Any]) -> None:
    """`event` is a `ResponseStreamEvent`, and valid against its own type's schema (clearer errors)."""
    assert_valid(event_schemas()[event["type"]], event)
    assert_valid("ResponseStreamEvent", event)


def create(gateway, body: dict[str, Any], **kwargs: Any):
    """POST /v1/responses with raw HTTP (the body exactly as given)."""
    return gateway.post("/v1/responses", body, **kwargs)


def stream(gateway, body: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """The events of a streamed response, each checked against OpenAI's schema for it: every `data:`
    carries `type` and `sequence_number` (increasing), and its `event:` line names the same type."""
    response = gateway.post("/v1/responses", {**body, "stream": True}, stream=True, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events, names = [], []
    for line in response.iter_lines():
        if line.startswith(b"event: "):
            names.append(line[7:].decode())
        elif line.startswith(b"data: "):
            event = json.loads(line[6:])
            assert_valid_event(event)
            events.append(event)
    assert names == [event["type"] for event in events]
    sequence = [event["sequence_number"] for event in events]
    assert sequence == sorted(set(sequence)), sequence
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def streamed_text(events: list[dict[str, Any]]) -> str:
    return "".join(event["delta"] for event in events if event["type"] == "response.output_text.delta")


def output_text(response: dict[str, Any]) -> str:
    return "".join(
        part["text"]
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
