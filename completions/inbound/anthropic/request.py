"""A Messages API request (`POST /v1/messages`): validation, the native body, the chat translation.

`MessagesRequest.parse` checks what the gateway needs (model, max_tokens, messages and the shape of
their blocks) and keeps the body bytes as the client sent them: a provider that speaks `anthropic`
gets those bytes with only the model swapped (`native_body`), never re-serialised, so unknown fields,
`cache_control` and thinking blocks with their `signature` arrive byte for byte. Any other provider
gets `chat_payload()`, the internal OpenAI chat request the adapters take:

- `system` (string or text blocks) and `role: "system"` entries become system messages;
- `tool_result` blocks become `tool` messages (their images a following user message), `tool_use`
  blocks assistant `tool_calls`; thinking blocks are dropped (only Anthropic can read them back);
- images (base64 or url) become `image_url` parts, base64 and text documents `file` / text parts;
- `tool_choice` any / tool / none map to required / a named function / none, `stop_sequences` to
  `stop`, `metadata.user_id` to `user`; `top_k`, `thinking` and `cache_control` have no equivalent.
"""

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from completions import errors
from completions.serializers import json_object
from completions.usage import message_text

ROLES = ("user", "assistant", "system")
BLOCK_TYPES = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "search_result"}
)
# Strings and brackets of a JSON text, to find the top-level "model" member without parsing the rest.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]', re.DOTALL)
_COLON = re.compile(rb"\s*:\s*")


@dataclass
class MessagesRequest:
    """A validated Messages request: the client's bytes and parsed body, and what routing needs."""

    body: dict[str, Any]
    raw: bytes
    model: str
    stream: bool
    provider: str = ""

    @classmethod
    def parse(cls, raw: bytes, *, count_only: bool = False) -> "MessagesRequest":
        """Validate a request body (`count_only`: a count_tokens body, which has no max_tokens)."""
        body = json_object(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise errors.ValidationFailed("model: Field required.", param="model")
        if not count_only:
            max_tokens = body.get("max_tokens")
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
                raise errors.ValidationFailed("max_tokens: a positive integer is required.", param="max_tokens")
        _validate_messages(body.get("messages"))
        _validate_system(body.get("system"))
        tools = body.get("tools")
        if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
            raise errors.ValidationFailed("tools: a list of tool objects is required.", param="tools")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise errors.ValidationFailed("stream: a boolean is required.", param="stream")
        return cls(body=body, raw=raw, model=model, stream=stream and not count_only)

    def needs(self) -> frozenset[str]:
        """The capabilities a provider-model needs: chat, plus tools and vision when used."""
        needed = {"chat"}
        if self.body.get("tools"):
            needed.add("tools")
        for message in self.body["messages"]:
            content = message["content"]
            if isinstance(content, list) and any(_has_image(block) for block in content):
                needed.add("vision")
                break
        return frozenset(needed)

    def native_body(self, upstream_model: str) -> bytes:
        """The client's body for an Anthropic upstream: the same bytes with `model` swapped."""
        if upstream_model == self.model:
            return self.raw
        span = _top_level_model_span(self.raw)
        if span is None:  # unreachable for a body `parse` accepted; re-encode rather than fail
            return orjson.dumps({**self.body, "model": upstream_model})
        start, end = span
        return self.raw[:start] + orjson.dumps(upstream_model) + self.raw[end:]

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The internal OpenAI chat request (the upstream model is set per route)."""
        return chat_payload(self.body)

    @cached_property
    def prompt_text(self) -> str:
        return message_text(self.payload["messages"])


def _validate_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise errors.ValidationFailed("messages: a non-empty list is required.", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise errors.ValidationFailed(
                f"messages.{index}.role: must be 'user' or 'assistant'.", param=f"messages.{index}.role"
            )
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise errors.ValidationFailed(
                f"messages.{index}.content: a string or a list of blocks is required.",
                param=f"messages.{index}.content",
            )
        for number, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
                kind = block.get("type") if isinstance(block, dict) else None
                raise errors.ValidationFailed(
                    f"messages.{index}.content.{number}: unknown content block type {kind!r}.",
                    param=f"messages.{index}.content.{number}.type",
                )


def _validate_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list) or not all(isinstance(b, dict) and b.get("type") == "text" for b in system):
        raise errors.ValidationFailed("system: a string or a list of text blocks is required.", param="system")


def _has_image(block: dict[str, Any]) -> bool:
    if block.get("type") == "image":
        return True
    inner = block.get("content") if block.get("type") == "tool_result" else None
    return isinstance(inner, list) and any(isinstance(b, dict) and b.get("type") == "image" for b in inner)


def _top_level_model_span(raw: bytes) -> tuple[int, int] | None:
    """The byte span of the top-level `"model"` member's string value in a JSON object text."""
    depth, after_key = 0, False
    for match in _JSON_TOKENS.finditer(raw):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
            after_key = False
        elif token in (b"}", b"]"):
            depth -= 1
            after_key = False
        elif after_key:
            return match.start(), match.end()
        elif depth == 1 and token == b'"model"':
            colon = _COLON.match(raw, match.end())
            after_key = colon is not None and raw[colon.end() : colon.end() + 1] == b'"'
    return None


# --- Messages -> chat -----------------------------------------------------------------------------


def chat_payload(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI chat request for a Messages body (see the module docstring)."""
    messages: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body["messages"]:
        messages.extend(_chat_messages(message))
    payload: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_tokens"):
        payload["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            payload[name] = body[name]
    if body.get("stop_sequences"):
        payload["stop"] = list(body["stop_sequences"])
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        payload["user"] = str(user)
    payload.update(_chat_tools(body))
    return payload


def _system_text(system: Any) -> str:
    if isinstance(system, list):
        return "\n\n".join(block.get("text", "") for block in system if block.get("text"))
    return system or ""


def _chat_messages(message: dict[str, Any]) -> list[dict[str, Any]]:
    role, content = message["role"], message["content"]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if role == "system":
        return [{"role": "system", "content": _system_text([b for b in content if b.get("type") == "text"])}]
    if role == "assistant":
        return [_assistant_message(content)]
    tool_messages, parts = [], []
    for block in content:
        if block["type"] == "tool_result":
            text, images = _tool_result_parts(block.get("content"))
            if block.get("is_error"):
                text = f"Error: {text}"
            tool_messages.append({"role": "tool", "tool_call_id": block.get("tool_use_id") or "", "content": text})
            parts.extend(images)
        else:
            part = _user_part(block)
            if part is not None:
                parts.append(part)
    return tool_messages + ([{"role": "user", "content": parts}] if parts else [])


def _assistant_message(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    text = "".join(block.get("text", "") for block in blocks if block["type"] == "text")
    calls = [
        {
            "id": block.get("id") or "",
            "type": "function",
            "function": {"name": block.get("name") or "", "arguments": orjson.dumps(block.get("input", {})).decode()},
        }
        for block in blocks
        if block["type"] == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_result_parts(content: Any) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(content, list):
        return ("" if content is None else str(content)), []
    texts = [block.get("text", "") for block in content if isinstance(block, dict) and block.get("type") == "text"]
    images = [_user_part(block) for block in content if isinstance(block, dict) and block.get("type") == "image"]
    return "\n".join(texts), [image for image in images if image is not None]


def _user_part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind, source = block["type"], block.get("source") or {}
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": _source_url(source, "image")}}
    if kind == "document":
        if source.get("type") == "text":
            return {"type": "text", "text": source.get("data", "")}
        if source.get("type") == "base64":
            file = {"file_data": _source_url(source, "document"), "filename": block.get("title") or "document"}
            return {"type": "file", "file": file}
        raise errors.UnsupportedCapability("Only base64 and text documents can be sent to this provider.")
    return None  # thinking blocks and the like mean nothing to another protocol


def _source_url(source: dict[str, Any], what: str) -> str:
    if source.get("type") == "base64":
        return f"data:{source.get('media_type') or 'application/octet-stream'};base64,{source.get('data', '')}"
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return source["url"]
    raise errors.ValidationFailed(f"An {what} source must be base64 or url.", param="messages")


def _chat_tools(body: dict[str, Any]) -> dict[str, Any]:
    tools = [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description") or "",
                "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
            },
        }
        for tool in body.get("tools") or ()
        if tool.get("name") and tool.get("type", "custom") == "custom"
    ]
    if not tools:
        return {}
    result: dict[str, Any] = {"tools": tools}
    choice = body.get("tool_choice") or {}
    kind = choice.get("type")
    if kind == "any":
        result["tool_choice"] = "required"
    elif kind == "none":
        result["tool_choice"] = "none"
    elif kind == "tool":
        result["tool_choice"] = {"type": "function", "function": {"name": choice.get("name") or ""}}
    if choice.get("disable_parallel_tool_use"):
        result["parallel_tool_calls"] = False
    return result
