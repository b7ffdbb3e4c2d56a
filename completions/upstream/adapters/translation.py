"""Pieces of the OpenAI request that every translating adapter (Anthropic, Gemini) reads the same way.

`PROTOCOL_EXTRA_FIELDS`: request fields holding one protocol's own parameters, merged into that
protocol's upstream body (`merge_extra`) and never sent to the others."""

from typing import Any

import orjson

PROTOCOL_EXTRA_FIELDS = ("anthropic", "gemini")


def message_text(content: Any) -> str:
    """The text of a message content: a string or a list of text (or refusal) parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text") or part.get("refusal") or "" for part in content if isinstance(part, dict))
    return ""


def tool_call_arguments(function: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI tool call's `arguments` string as the JSON object the other protocols want;
    arguments that are not a JSON object are kept as `{"arguments": <text>}`."""
    raw = function.get("arguments") or "{}"
    try:
        arguments = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"arguments": raw}
    return arguments if isinstance(arguments, dict) else {"arguments": raw}


def merge_extra(body: dict[str, Any], extra: Any) -> dict[str, Any]:
    """`body` with a request's protocol-specific object (`"anthropic": {...}`, `"gemini": {...}`) merged
    in: objects merge key by key, any other value replaces the translated one."""
    if not isinstance(extra, dict):
        return body
    merged = dict(body)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_extra(merged[key], value)
        else:
            merged[key] = value
    return merged
