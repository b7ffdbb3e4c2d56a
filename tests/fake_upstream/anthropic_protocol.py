"""The Anthropic Messages API of the fake upstream, mounted at ``/{provider}/anthropic/``.

A client's base URL is ``provider_url(name, "anthropic")`` and it calls ``{base}/v1/messages`` as it
would ``https://api.anthropic.com/v1/messages``. Like the real API:

- every request needs ``x-api-key`` (401 ``authentication_error`` without it) and ``anthropic-version``
  (400 ``invalid_request_error`` without it, which is what Anthropic answers);
- ``POST v1/messages`` requires ``model``, ``max_tokens`` and ``messages``; messages must alternate
  ``user`` / ``assistant`` starting with ``user`` (no ``system`` role: the system prompt is the top-level
  ``system``), every ``tool_result`` must answer a ``tool_use`` of the assistant turn just before it and
  come first in its user turn, and image blocks must be ``base64`` (a supported media type and valid
  data) or ``url`` sources. A violation is a 400 naming it, so tests prove the translation is valid;
- errors are ``{"type": "error", "error": {"type", "message"}}``;
- ``stream: true`` sends the documented events: ``message_start``, ``content_block_start``, ``ping``,
  ``content_block_delta`` (``text_delta``, ``input_json_delta``, or ``thinking_delta`` then
  ``signature_delta``), ``content_block_stop``, ``message_delta`` (``stop_reason``,
  ``usage.output_tokens``), ``message_stop``;
- ``thinking: {"type": "enabled", "budget_tokens": N}`` needs 1024 <= N < ``max_tokens``, no
  ``temperature`` but 1, no ``top_p`` under 0.95, no forced tool, and (as the real API) a final
  assistant ``tool_use`` turn that starts with a thinking block; the answer then starts with a
  ``thinking`` block ``"Thinking about: {last user text}"`` signed ``SIGNATURE`` (its words count as
  output tokens); thinking blocks in the history are accepted in assistant turns (the real API checks
  their signatures; tests check they arrive byte for byte);
- ``GET v1/models`` pages option ``models`` with ``limit`` / ``after_id``, ``has_more`` and ``last_id``;
- ``POST v1/messages/count_tokens`` answers ``{"input_tokens": N}`` (words of system and messages).

Answers mirror the OpenAI fake: ``"Hello from {provider}: {last user text}"`` (+ ``" [images: N]"``), or
option ``content``; with ``tools`` (``tool_choice`` not ``none``) a ``tool_use`` block ``toolu_fake1``
calling the first tool (or the one ``tool_choice`` names) with ``{"echo": "<last user text>"}`` and
stop_reason ``tool_use``; after a ``tool_result``, ``"Tool said: {its content}"``. The Messages API has no
JSON mode, so a system prompt that asks for JSON is obeyed with ``{"echo": "<last user text>"}``.
``max_tokens`` below the word count truncates (``max_tokens``); a stop sequence in the answer cuts it
there (``stop_sequence``). Tokens are words. Native structured output (``output_config.format``) is
answered with ``{"echo": "<last user text>"}`` too. Like current Claude models, ``temperature`` and
``top_p`` together are a 400. Option ``server_tool_blocks`` puts a web search's ``server_tool_use`` and
``web_search_tool_result`` blocks before the text. Every body without an ``anthropic-beta`` header (a
client's own beta body, passed through natively) is also checked against the anthropic SDK's types
(``sdk_types.py``).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Callable
from typing import Any

import orjson

from . import sdk_types
from .openai_protocol import split_text, word_count
from .wire import Reply, Request, json_reply, sse_reply

NAME = "anthropic"
SEGMENT = "anthropic"

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
TOOL_USE_ID = "toolu_fake1"
SIGNATURE = "EqQBCkYIBxgCKkBfake/sig+nature=="
THINKING_SIGNATURE = SIGNATURE
THINKING_BLOCKS = ("thinking", "redacted_thinking")
_ids = itertools.count(1)

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (fake upstream)."),
    401: ("authentication_error", "invalid x-api-key (fake upstream)."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource (fake upstream)."),
    404: ("not_found_error", "The requested resource could not be found (fake upstream)."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes (fake upstream)."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your rate limit (fake upstream)."),
    500: ("api_error", "Internal server error (fake upstream)."),
    529: ("overloaded_error", "Overloaded (fake upstream)."),
}


class _Invalid(Exception):
    """A request the real API would refuse with 400 invalid_request_error."""


# --- the protocol contract (see wire.ProtocolModule) ------------------------------------------


def handle(request: Request) -> Reply:
    if not request.headers.get("x-api-key"):
        return error_reply(request, 401, message="x-api-key header is required (fake upstream).")
    if not request.headers.get("anthropic-version"):
        return error_reply(request, 400, message="anthropic-version: header is required (fake upstream).")
    handler = _ROUTES.get((request.method, request.route))
    if handler is None:
        return error_reply(request, 404, message=f"Unknown route: {request.method} /{request.route}")
    try:
        return handler(request)
    except _Invalid as exc:
        return error_reply(request, 400, message=str(exc))


def error_reply(request: Request, status: int, *, retry_after: int | None = None, message: str | None = None) -> Reply:
    kind, default_message = _ERRORS.get(status, ("api_error", f"HTTP {status} (fake upstream)."))
    body = {"type": "error", "error": {"type": kind, "message": message or default_message}}
    headers = ((b"retry-after", str(retry_after).encode()),) if retry_after is not None else ()
    return json_reply(body, status=status, headers=headers)


def empty_reply(request: Request) -> Reply:
    """A message without content, or a stream that pings and never starts a message."""
    if _body(request).get("stream"):
        return sse_reply((_event("ping", {}),))
    return json_reply({"type": "message"})


def model_name(request: Request) -> str | None:
    model = _body(request).get("model")
    return model if isinstance(model, str) else None


# --- POST v1/messages ---------------------------------------------------------------------------


def _messages(request: Request) -> Reply:
    body = _body(request)
    _validate(body)
    # A body with `anthropic-beta` is a client's own, passed through natively: beta fields (e.g.
    # context_management) are not in the SDK's stable types, and the gateway must not drop them.
    problem = None if request.headers.get("anthropic-beta") else sdk_types.anthropic_problem(body)
    if problem:
        sdk_types.record(f"anthropic {request.path}: {problem}")
        raise _Invalid(f"The body is not an anthropic.types.MessageCreateParams: {problem}")
    blocks, stop_reason, stop_sequence = _answer(request.provider, body, request.options)
    if (body.get("thinking") or {}).get("type") == "enabled":
        thought = "Thinking about: " + _text_and_images(body["messages"][-1])[0]
        blocks = [{"type": "thinking", "thinking": thought, "signature": THINKING_SIGNATURE}, *blocks]
    output = " ".join(
        b.get("text") or b.get("thinking") or json.dumps(b.get("input"))
        for b in blocks
        if b["type"] in ("text", "tool_use", "thinking")
    )
    usage = {"input_tokens": _prompt_tokens(body), "output_tokens": word_count(output)}
    message_id = f"msg_fake{next(_ids)}"
    if body.get("stream"):
        return sse_reply(_stream(message_id, body["model"], blocks, stop_reason, stop_sequence, usage, request.options))
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }
    if not request.options["usage"]:
        del message["usage"]
    return json_reply(message)


def _validate(body: dict[str, Any]) -> None:
    for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool):
            raise _Invalid(f"{name}: Field required (fake upstream).")
    if body["max_tokens"] < 1:
        raise _Invalid("max_tokens: must be at least 1.")
    messages = body["messages"]
    if not messages:
        raise _Invalid("messages: at least one message is required.")
    previous: dict[str, Any] | None = None
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise _Invalid(f"messages.{index}.role: Input should be 'user' or 'assistant', not {role!r}.")
        expected = "user" if previous is None or previous["role"] == "assistant" else "assistant"
        if role != expected:
            raise _Invalid(f"messages.{index}: roles must alternate between 'user' and 'assistant'.")
        _validate_content(index, message, previous)
        previous = message
    if "temperature" in body and not 0 <= body["temperature"] <= 1:
        raise _Invalid("temperature: must be between 0 and 1.")
    if "temperature" in body and "top_p" in body:
        raise _Invalid("`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
    _validate_thinking(body)


def _validate_thinking(body: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is None or thinking.get("type") == "disabled":
        return
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int) or budget < 1024:
        raise _Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024.")
    if body["max_tokens"] <= budget:
        raise _Invalid("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if body.get("temperature", 1) != 1 or body.get("top_p", 1) < 0.95:
        raise _Invalid("`temperature` may only be set to 1 and `top_p` to 0.95 or more when thinking is enabled.")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise _Invalid("Thinking may not be enabled when tool_choice forces tool use.")
    assistant = [m for m in body["messages"] if m["role"] == "assistant"]
    blocks = _blocks(assistant[-1]) if assistant else []
    if any(b.get("type") == "tool_use" for b in blocks) and blocks[0].get("type") not in THINKING_BLOCKS:
        raise _Invalid(
            "Expected `thinking` or `redacted_thinking`, but found `tool_use`: with thinking enabled,"
            " a final assistant message must start with a thinking block."
        )


def _validate_content(index: int, message: dict[str, Any], previous: dict[str, Any] | None) -> None:
    content = message.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise _Invalid(f"messages.{index}.content: a non-empty string or list of blocks is required.")
    tool_uses = {b.get("id") for b in _blocks(previous) if b.get("type") == "tool_use"}
    seen_other = False
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            if seen_other:
                raise _Invalid(f"messages.{index}: tool_result blocks must come first in the user turn.")
            if block.get("tool_use_id") not in tool_uses:
                raise _Invalid(f"messages.{index}: tool_result {block.get('tool_use_id')!r} answers no tool_use.")
            continue
        seen_other = True
        if kind == "image":
            _validate_image(index, block.get("source") or {})
        elif kind == "tool_use" and message["role"] != "assistant":
            raise _Invalid(f"messages.{index}: tool_use blocks belong to assistant turns.")
        elif kind in THINKING_BLOCKS and message["role"] != "assistant":
            raise _Invalid(f"messages.{index}: thinking blocks belong to assistant turns.")
        elif kind not in ("text", "image", "tool_use", "document", *THINKING_BLOCKS):
            raise _Invalid(f"messages.{index}: unknown content block type {kind!r}.")


def _validate_image(index: int, source: dict[str, Any]) -> None:
    if source.get("type") == "url":
        if not str(source.get("url", "")).startswith(("http://", "https://")):
            raise _Invalid(f"messages.{index}: image url source needs an http(s) url.")
        return
    if source.get("type") != "base64" or source.get("media_type") not in IMAGE_MEDIA_TYPES:
        raise _Invalid(f"messages.{index}: image source must be base64 with media_type in {sorted(IMAGE_MEDIA_TYPES)}.")
    try:
        base64.b64decode(source.get("data") or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Invalid(f"messages.{index}: image data is not valid base64.") from exc


def _answer(provider: str, body: dict[str, Any], options: dict[str, Any]) -> tuple[list[dict], str, str | None]:
    """The content blocks, stop_reason and stop_sequence of the answer."""
    last = body["messages"][-1]
    user_text, images = _text_and_images(last)
    tool_results = [b for b in _blocks(last) if b.get("type") == "tool_result"]
    tool_name = None if tool_results or last["role"] != "user" else _chosen_tool(body)
    if tool_name is not None:
        call = {"type": "tool_use", "id": TOOL_USE_ID, "name": tool_name, "input": {"echo": user_text}}
        return [call], "tool_use", None
    if tool_results:
        text = "Tool said: " + _result_text(tool_results[-1].get("content"))
    elif options["content"] is not None:
        text = options["content"]
    elif "JSON" in _system_text(body.get("system")) or (body.get("output_config") or {}).get("format"):
        text = json.dumps({"echo": user_text})
    else:
        text = f"Hello from {provider}: {user_text}" + (f" [images: {images}]" if images else "")
    stop_reason, stop_sequence = "end_turn", None
    for sequence in body.get("stop_sequences") or ():
        if sequence and sequence in text:
            text, stop_reason, stop_sequence = text.split(sequence, 1)[0], "stop_sequence", sequence
            break
    if body["max_tokens"] < word_count(text):
        text, stop_reason, stop_sequence = " ".join(text.split()[: body["max_tokens"]]), "max_tokens", None
    blocks = _server_tool_blocks(user_text) if options["server_tool_blocks"] else []
    return [*blocks, {"type": "text", "text": text}], stop_reason, stop_sequence


def _server_tool_blocks(query: str) -> list[dict[str, Any]]:
    """A web search Anthropic ran itself, as its answers show it before the text."""
    call = {"type": "server_tool_use", "id": "srvtoolu_fake1", "name": "web_search", "input": {"query": query}}
    result = {"type": "web_search_result", "url": "https://example.com/", "title": "Example", "encrypted_content": "x"}
    return [call, {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_fake1", "content": [result]}]


def _stream(
    message_id: str,
    model: str,
    blocks: list[dict[str, Any]],
    stop_reason: str,
    stop_sequence: str | None,
    usage: dict[str, int],
    options: dict[str, Any],
) -> list[bytes]:
    start = {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": []}
    start |= {"stop_reason": None, "stop_sequence": None}
    start["usage"] = {"input_tokens": usage["input_tokens"], "output_tokens": 1}
    events = [_event("message_start", {"message": start})]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            opening, pieces = {"type": "text", "text": ""}, split_text(block["text"], options["chunks"])
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
        elif block["type"] == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": p} for p in split_text(block["thinking"], options["chunks"])
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif block["type"] == "web_search_tool_result":
            opening, deltas = block, []
        else:
            opening = {**block, "input": {}}
            pieces = split_text(json.dumps(block["input"]), options["chunks"])
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        events.append(_event("content_block_start", {"index": index, "content_block": opening}))
        if index == 0:
            events.append(_event("ping", {}))
        events += [_event("content_block_delta", {"index": index, "delta": delta}) for delta in deltas]
        events.append(_event("content_block_stop", {"index": index}))
    delta: dict[str, Any] = {"delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence}}
    if options["usage"]:
        delta["usage"] = {"output_tokens": usage["output_tokens"]}
    events.append(_event("message_delta", delta))
    events.append(_event("message_stop", {}))
    return events


# --- GET v1/models ------------------------------------------------------------------------------


def _list_models(request: Request) -> Reply:
    names = list(request.options["models"])
    limit = int(request.query.get("limit") or 20)
    if not 1 <= limit <= 1000:
        raise _Invalid("limit: must be between 1 and 1000.")
    after = request.query.get("after_id")
    start = names.index(after) + 1 if after in names else 0
    page = names[start : start + limit]
    data = [{"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"} for name in page]
    return json_reply(
        {
            "data": data,
            "has_more": start + limit < len(names),
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
    )


# --- POST v1/messages/count_tokens -------------------------------------------------------------


def _count_tokens(request: Request) -> Reply:
    body = _body(request)
    if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise _Invalid("model and messages: Field required (fake upstream).")
    return json_reply({"input_tokens": _prompt_tokens(body)})


# --- helpers ------------------------------------------------------------------------------------


def _body(request: Request) -> dict[str, Any]:
    return request.json if isinstance(request.json, dict) else {}


def _blocks(message: dict[str, Any] | None) -> list[dict[str, Any]]:
    content = (message or {}).get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _text_and_images(message: dict[str, Any]) -> tuple[str, int]:
    content = message.get("content")
    if isinstance(content, str):
        return content, 0
    blocks = _blocks(message)
    text = " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
    return text, sum(1 for b in blocks if b.get("type") == "image")


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        blocks = [b for b in content if isinstance(b, dict)]
        text = " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        images = sum(1 for b in blocks if b.get("type") == "image")
        return text + (f" [images: {images}]" if images else "")
    return "" if content is None else str(content)


def _system_text(system: Any) -> str:
    if isinstance(system, list):
        return " ".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return system if isinstance(system, str) else ""


def _chosen_tool(body: dict[str, Any]) -> str | None:
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("name")]
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        return choice.get("name")
    return tools[0]["name"]


def _prompt_tokens(body: dict[str, Any]) -> int:
    texts = [_system_text(body.get("system"))]
    texts += [_text_and_images(m)[0] for m in body["messages"]]
    return sum(word_count(text) for text in texts)


def _event(name: str, data: dict[str, Any]) -> bytes:
    """One SSE event; its data repeats the event name as ``type``, as Anthropic's do."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


_ROUTES: dict[tuple[str, str], Callable[[Request], Reply]] = {
    ("POST", "v1/messages"): _messages,
    ("POST", "v1/messages/count_tokens"): _count_tokens,
    ("GET", "v1/models"): _list_models,
}
