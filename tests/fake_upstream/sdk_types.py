"""Request bodies checked against the upstreams' own SDK types, so the fake refuses what the owner would.

The Anthropic side validates each ``POST v1/messages`` body against ``anthropic.types``'
``MessageCreateParamsNonStreaming`` / ``MessageCreateParamsStreaming`` (TypedDicts, through a pydantic
``TypeAdapter`` that forbids keys the types do not declare, at every depth). The Gemini side validates
each ``generateContent`` body field by field against ``google.genai.types`` (``Content``, ``Tool``,
``ToolConfig``, ``GenerationConfig``, ``SafetySetting``: pydantic models that forbid extra keys).

A body that does not match is refused by the protocol module with a 400 naming the problem, and
recorded here: the ``fake`` fixture fails the test at teardown when anything was recorded, so a test
whose gateway answered otherwise (a failover, an expected error) still sees the mismatch.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

import pydantic
from anthropic.types import message_create_params
from google.genai import types as genai_types

# Sampling fields the anthropic SDK dropped from its types in 1.0; the API (anthropic-version
# 2023-06-01) still takes them on models that sample, so they are checked here by hand.
ANTHROPIC_SAMPLING_RANGES = {"temperature": (0.0, 1.0), "top_p": (0.0, 1.0), "top_k": (0, None)}


@functools.cache
def _anthropic_adapter(stream: bool) -> pydantic.TypeAdapter:
    """Built on first use (a few seconds). A list around the TypedDict: pydantic takes `config` only for
    types that cannot carry their own; nested TypedDicts without a config of their own inherit it."""
    params = message_create_params
    typed = params.MessageCreateParamsStreaming if stream else params.MessageCreateParamsNonStreaming
    return pydantic.TypeAdapter(list[typed], config=pydantic.ConfigDict(extra="forbid"))


# GenerateContentRequest's fields (the REST body; `model` is in the path).
_GEMINI = {
    "contents": pydantic.TypeAdapter(list[genai_types.Content]),
    "systemInstruction": pydantic.TypeAdapter(genai_types.Content),
    "tools": pydantic.TypeAdapter(list[genai_types.Tool]),
    "toolConfig": pydantic.TypeAdapter(genai_types.ToolConfig),
    "generationConfig": pydantic.TypeAdapter(genai_types.GenerationConfig),
    "safetySettings": pydantic.TypeAdapter(list[genai_types.SafetySetting]),
    "cachedContent": pydantic.TypeAdapter(str),
}

_lock = threading.Lock()
_mismatches: list[str] = []


def anthropic_problem(body: dict[str, Any]) -> str | None:
    """Why `body` is not an `anthropic.types.MessageCreateParams`, or None when it is one."""
    rest = {key: value for key, value in body.items() if key not in ANTHROPIC_SAMPLING_RANGES}
    adapter = _anthropic_adapter(body.get("stream") is True)
    try:
        validated = _exhaust(adapter.validate_python([rest]))
    except pydantic.ValidationError as exc:
        return _summary(exc, [rest])
    response_type = _first_model(validated)
    if response_type:
        return f"a block validates only as the response type {response_type}, not as a request param type"
    for name, (low, high) in ANTHROPIC_SAMPLING_RANGES.items():
        value = body.get(name)
        if name not in body:
            continue
        if isinstance(value, bool) or not isinstance(value, int if name == "top_k" else (int, float)):
            return f"{name}: must be a number"
        if value < low or (high is not None and value > high):
            return f"{name}: must be between {low} and {high}" if high is not None else f"{name}: must be >= {low}"
    return None


def gemini_problem(body: dict[str, Any]) -> str | None:
    """Why `body` is not a Gemini `GenerateContentRequest` as `google.genai.types` defines its parts."""
    for key, value in body.items():
        adapter = _GEMINI.get(key)
        if adapter is None:
            return f"{key}: Extra inputs are not permitted (GenerateContentRequest has no such field)"
        try:
            adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            return f"{key}: {_summary(exc, value)}"
    return None


def record(problem: str) -> None:
    """Remember a mismatch for the `fake` fixture to report."""
    with _lock:
        _mismatches.append(problem)


def take_mismatches() -> list[str]:
    """The mismatches recorded since the last call, clearing them."""
    with _lock:
        taken = list(_mismatches)
        _mismatches.clear()
        return taken


def _exhaust(value: Any) -> Any:
    """`value` with pydantic's lazy `Iterable` validators run (each item is validated when read)."""
    if isinstance(value, dict):
        return {key: _exhaust(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ValidatorIterator":
        return [_exhaust(item) for item in value]
    return value


def _first_model(value: Any) -> str | None:
    """The first pydantic model in a validated value: a union member that is a response type."""
    if isinstance(value, pydantic.BaseModel):
        return type(value).__name__
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _first_model(item)
        if found:
            return found
    return None


def _summary(exc: pydantic.ValidationError, value: Any, limit: int = 3) -> str:
    """The errors of the union members that match each block's `type` (unions list every member)."""
    relevant = [error for error in exc.errors() if _on_matching_branch(error["loc"], value)] or exc.errors()
    lines = [f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in relevant[:limit]]
    return "; ".join(lines) + (f" (+{len(relevant) - limit} more)" if len(relevant) > limit else "")


def _on_matching_branch(loc: tuple[Any, ...], value: Any) -> bool:
    """False when `loc` goes through a union member (a class name) that the input's `type` rules out."""
    for part in loc:
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(part, str) and re.fullmatch(r"[A-Z][A-Za-z0-9]+", part) and isinstance(value, dict):
            kind = value.get("type")
            if isinstance(kind, str) and not part.lower().startswith(kind.replace("_", "").lower()):
                return False
    return True
