"""What the fake Anthropic Messages API refuses, as the real one does, with a 400 naming the problem.

``model``, ``max_tokens`` and ``messages`` are required; messages alternate ``user`` / ``assistant``
starting with ``user`` (no ``system`` role); every ``tool_result`` answers a ``tool_use`` of the assistant
turn just before it and comes first in its user turn; image blocks are ``base64`` (a supported media type
and valid data) or ``url`` sources; ``temperature`` and ``top_p`` together are refused, as current Claude
models do; ``thinking`` needs 1024 <= ``budget_tokens`` < ``max_tokens``, no ``temperature`` but 1, no
``top_p`` under 0.95, no forced tool, and a final assistant ``tool_use`` turn that starts with a thinking
block.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
THINKING_BLOCKS = ("thinking", "redacted_thinking")


class Invalid(Exception):
    """A request the real API would refuse with 400 invalid_request_error."""


def validate(body: dict[str, Any]) -> None:
    """Raise Invalid, naming the problem, for a body the real API refuses with a 400."""
    for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool):
            raise Invalid(f"{name}: Field required (fake upstream).")
    if body["max_tokens"] < 1:
        raise Invalid("max_tokens: must be at least 1.")
    messages = body["messages"]
    if not messages:
        raise Invalid("messages: at least one message is required.")
    previous: dict[str, Any] | None = None
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{index}.role: Input should be 'user' or 'assistant', not {role!r}.")
        expected = "user" if previous is None or previous["role"] == "assistant" else "assistant"
        if role != expected:
            raise Invalid(f"messages.{index}: roles must alternate between 'user' and 'assistant'.")
        _validate_content(index, message, previous)
        previous = message
    if "temperature" in body and not 0 <= body["temperature"] <= 1:
        raise Invalid("temperature: must be between 0 and 1.")
    if "temperature" in body and "top_p" in body:
        raise Invalid("`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
    _validate_thinking(body)


def _validate_thinking(body: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is None or thinking.get("type") == "disabled":
        return
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int) or budget < 1024:
        raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024.")
    if body["max_tokens"] <= budget:
        raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if body.get("temperature", 1) != 1 or body.get("top_p", 1) < 0.95:
        raise Invalid("`temperature` may only be set to 1 and `top_p` to 0.95 or more when thinking is enabled.")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")
    assistant = [m for m in body["messages"] if m["role"] == "assistant"]
    blocks = content_blocks(assistant[-1]) if assistant else []
    if any(b.get("type") == "tool_use" for b in blocks) and blocks[0].get("type") not in THINKING_BLOCKS:
        raise Invalid(
            "Expected `thinking` or `redacted_thinking`, but found `tool_use`: with thinking enabled,"
            " a final assistant message must start with a thinking block."
        )


def _validate_content(index: int, message: dict[str, Any], previous: dict[str, Any] | None) -> None:
    content = message.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise Invalid(f"messages.{index}.content: a non-empty string or list of blocks is required.")
    tool_uses = {b.get("id") for b in content_blocks(previous) if b.get("type") == "tool_use"}
    seen_other = False
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            if seen_other:
                raise Invalid(f"messages.{index}: tool_result blocks must come first in the user turn.")
            if block.get("tool_use_id") not in tool_uses:
                raise Invalid(f"messages.{index}: tool_result {block.get('tool_use_id')!r} answers no tool_use.")
            continue
        seen_other = True
        if kind == "image":
            _validate_image(index, block.get("source") or {})
        elif kind == "tool_use" and message["role"] != "assistant":
            raise Invalid(f"messages.{index}: tool_use blocks belong to assistant turns.")
        elif kind in THINKING_BLOCKS and message["role"] != "assistant":
            raise Invalid(f"messages.{index}: thinking blocks belong to assistant turns.")
        elif kind not in ("text", "image", "tool_use", "document", *THINKING_BLOCKS):
            raise Invalid(f"messages.{index}: unknown content block type {kind!r}.")


def _validate_image(index: int, source: dict[str, Any]) -> None:
    if source.get("type") == "url":
        if not str(source.get("url", "")).startswith(("http://", "https://")):
            raise Invalid(f"messages.{index}: image url source needs an http(s) url.")
        return
    if source.get("type") != "base64" or source.get("media_type") not in IMAGE_MEDIA_TYPES:
        raise Invalid(f"messages.{index}: image source must be base64 with media_type in {sorted(IMAGE_MEDIA_TYPES)}.")
    try:
        base64.b64decode(source.get("data") or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid(f"messages.{index}: image data is not valid base64.") from exc


def content_blocks(message: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The block objects of a message's content (none when the content is a string)."""
    content = (message or {}).get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
