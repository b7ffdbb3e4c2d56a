"""Pieces of the OpenAI request that every translating adapter (Anthropic, Gemini) reads the same way."""

from typing import Any

import orjson


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
