"""Answers, stream events and errors in the Messages API's shapes.

`message_from_chat` turns an adapter's OpenAI `chat.completion` into a Messages `message`;
`EventRenderer` turns `chat.completion.chunk`s into Anthropic's event sequence (message_start,
content_block_start, ping, content_block_delta, content_block_stop, message_delta, message_stop);
`error_body` renders any gateway error as `{"type": "error", "error": {"type", "message"}}`.
"""

import os
from typing import Any

import orjson

from completions import errors
from completions.usage import estimate_tokens

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use"}
STOP_REASONS["content_filter"] = "refusal"

# The gateway's error classes as Anthropic error types; the most specific class listed wins.
ERROR_TYPES: dict[type[errors.GatewayError], str] = {
    errors.InvalidRequest: "invalid_request_error",
    errors.AuthenticationFailed: "authentication_error",
    errors.PermissionDenied: "permission_error",
    errors.NotFound: "not_found_error",
    errors.MethodNotAllowed: "invalid_request_error",
    errors.Conflict: "invalid_request_error",
    errors.RateLimited: "rate_limit_error",
    errors.ProviderNotWorking: "overloaded_error",
    errors.ProviderError: "api_error",
    errors.GatewayError: "api_error",
}


def error_type(exc: errors.GatewayError) -> str:
    for cls in type(exc).__mro__:
        if cls in ERROR_TYPES:
            return ERROR_TYPES[cls]
    return "api_error"


def error_body(exc: errors.GatewayError) -> dict[str, Any]:
    """Anthropic's error object for a gateway error."""
    return {"type": "error", "error": {"type": error_type(exc), "message": exc.message}}


def sse(name: str, data: dict[str, Any]) -> bytes:
    """One named event; its data repeats the name as `type`, as Anthropic's do."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def new_message_id() -> str:
    return f"msg_{os.urandom(16).hex()}"


def stop_reason(finish_reason: str | None) -> str:
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def message_usage(usage: dict[str, Any] | None, prompt_text: str, output_text: str) -> dict[str, int]:
    """Anthropic usage from the chat usage, or an estimate when the upstream gave none."""
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        return {"input_tokens": usage["prompt_tokens"], "output_tokens": usage.get("completion_tokens") or 0}
    return {"input_tokens": estimate_tokens(prompt_text), "output_tokens": estimate_tokens(output_text)}


def message_from_chat(completion: dict[str, Any], *, model: str, prompt_text: str) -> dict[str, Any]:
    """The Messages answer for an OpenAI `chat.completion` (first choice)."""
    choices = completion.get("choices") or [{}]
    reply = choices[0].get("message") or {}
    content: list[dict[str, Any]] = []
    if reply.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": reply["reasoning_content"], "signature": ""})
    if reply.get("content"):
        content.append({"type": "text", "text": reply["content"]})
    for call in reply.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": function.get("name") or "",
                "input": _input(function),
            }
        )
    output = "".join(block.get("text") or block.get("thinking") or "" for block in content)
    return {
        "id": new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choices[0].get("finish_reason")),
        "stop_sequence": None,
        "usage": message_usage(completion.get("usage"), prompt_text, output),
    }


def _input(function: dict[str, Any]) -> dict[str, Any]:
    arguments = function.get("arguments") or "{}"
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}


class EventRenderer:
    """Turns one stream of chat chunks into Anthropic events (no I/O). Blocks open and close as the
    deltas switch between thinking, text and each tool call."""

    def __init__(self, *, model: str, prompt_text: str) -> None:
        self.model = model
        self.prompt_text = prompt_text
        self.started = False
        self.index = -1  # the open block's index
        self.open_kind: str | None = None  # "thinking", "text", or "tool:<chat index>"
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.output: list[str] = []

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events for one chat chunk (may be empty)."""
        events: list[bytes] = []
        if not self.started:
            self.started = True
            events.append(self._message_start())
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in (chunk.get("choices") or ())[:1]:
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                events += self._delta("thinking", {"type": "thinking_delta", "thinking": delta["reasoning_content"]})
            if delta.get("content"):
                events += self._delta("text", {"type": "text_delta", "text": delta["content"]})
            for call in delta.get("tool_calls") or ():
                events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return b"".join(events)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def closing(self) -> bytes:
        """content_block_stop for the open block, message_delta with stop reason and usage, message_stop."""
        events = [self._stop_block()] if self.open_kind else []
        usage = self.usage_totals()
        delta = {"stop_reason": stop_reason(self.finish_reason), "stop_sequence": None}
        events.append(sse("message_delta", {"delta": delta, "usage": usage}))
        events.append(sse("message_stop", {}))
        return b"".join(events)

    def usage_totals(self) -> dict[str, int]:
        return message_usage(self.usage, self.prompt_text, "".join(self.output))

    def chat_usage(self) -> dict[str, int]:
        usage = self.usage_totals()
        return {"prompt_tokens": usage["input_tokens"], "completion_tokens": usage["output_tokens"]}

    def _message_start(self) -> bytes:
        message = {
            "id": new_message_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": estimate_tokens(self.prompt_text), "output_tokens": 0},
        }
        return sse("message_start", {"message": message})

    def _delta(self, kind: str, delta: dict[str, Any]) -> list[bytes]:
        events = []
        if self.open_kind != kind:
            block = {"type": "text", "text": ""} if kind == "text" else {"type": "thinking", "thinking": ""}
            if kind == "thinking":
                block["signature"] = ""
            events += self._start_block(kind, block)
        self.output.append(delta.get("text") or delta.get("thinking") or "")
        events.append(sse("content_block_delta", {"index": self.index, "delta": delta}))
        return events

    def _tool_delta(self, call: dict[str, Any]) -> list[bytes]:
        events = []
        kind = f"tool:{call.get('index', 0)}"
        function = call.get("function") or {}
        if self.open_kind != kind:
            block = {"type": "tool_use", "id": call.get("id") or "", "name": function.get("name") or "", "input": {}}
            events += self._start_block(kind, block)
        arguments = function.get("arguments")
        if arguments:
            self.output.append(arguments)
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events.append(sse("content_block_delta", {"index": self.index, "delta": delta}))
        return events

    def _start_block(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        events = [self._stop_block()] if self.open_kind else []
        self.index += 1
        self.open_kind = kind
        events.append(sse("content_block_start", {"index": self.index, "content_block": block}))
        if self.index == 0:
            events.append(sse("ping", {}))
        return events

    def _stop_block(self) -> bytes:
        self.open_kind = None
        return sse("content_block_stop", {"index": self.index})
