"""The Anthropic Messages API of the fake upstream, mounted at ``/{provider}/anthropic/``.

A client's base URL is ``provider_url(name, "anthropic")`` and it calls ``{base}/v1/messages`` as it
would ``https://api.anthropic.com/v1/messages``. Like the real API:

- every request needs ``x-api-key`` (401 ``authentication_error`` without it) and ``anthropic-version``
  (400 ``invalid_request_error`` without it, which is what Anthropic answers);
- ``POST v1/messages`` refuses what the real API refuses (``anthropic_validation.py``: required fields,
  alternating roles, tool results, image sources, thinking budgets) with a 400 naming the problem, so
  tests prove the translation is valid;
- errors are ``{"type": "error", "error": {"type", "message"}}``;
- ``stream: true`` sends the documented events: ``message_start``, ``content_block_start``, ``ping``,
  ``content_block_delta`` (``text_delta``, ``input_json_delta``, or ``thinking_delta`` then
  ``signature_delta``), ``content_block_stop``, ``message_delta`` (``stop_reason``,
  ``usage.output_tokens``), ``message_stop``;
- with ``thinking: {"type": "enabled", "budget_tokens": N}`` the answer starts with a ``thinking`` block
  ``"Thinking about: {last user text}"`` signed ``SIGNATURE`` (its words count as output tokens);
  thinking blocks in the history are accepted in assistant turns (the real API checks their signatures;
  tests check they arrive byte for byte);
- ``GET v1/models`` pages option ``models`` with ``limit`` / ``after_id``, ``has_more`` and ``last_id``;
- ``POST v1/messages/count_tokens`` answers ``{"input_tokens": N}`` (words of system and messages).

Answers mirror the OpenAI fake: ``"Hello from {provider}: {last user text}"`` (+ ``" [images: N]"``), or
option ``content``; with ``tools`` (``tool_choice`` not ``none``) a ``tool_use`` block ``toolu_fake1``
calling the first tool (or the one ``tool_choice`` names) with ``{"echo": "<last user text>"}`` and
stop_reason ``tool_use``; after a ``tool_result``, ``"Tool said: {its content}"``. The Messages API has no
JSON mode, so a system prompt that asks for JSON is obeyed with ``{"echo": "<last user text>"}``.
``max_tokens`` below the word count truncates (``max_tokens``); a stop sequence in the answer cuts it
there (``stop_sequence``). Tokens are words. Native structured output (``output_config.format``) is
answered with ``{"echo": "<last user text>"}`` too. Option ``server_tool_blocks`` puts a web search's
``server_tool_use`` and ``web_search_tool_result`` blocks before the text. Every body without an
``anthropic-beta`` header (a client's own beta body, passed through natively) is also checked against the
anthropic SDK's types (``sdk_types.py``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import orjson

from . import sdk_types
from .anthropic_validation import Invalid, content_blocks, validate
from .wire import Reply, Request, json_reply, sse_reply
from .words import split_text, word_count

NAME = "anthropic"
SEGMENT = "anthropic"

TOOL_USE_ID = "toolu_fake1"
SIGNATURE = "EqQBCkYIBxgCKkBfake/sig+nature=="
THINKING_SIGNATURE = SIGNATURE
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
    except Invalid as exc:
        return error_reply(request, 400, message=str(exc))


def error_reply(request: Request, status: int, *, retry_after: int | None = None, message: str | None = None) -> Reply:
    kind, default_message = _ERRORS.get(status, ("api_error", f"HTTP {status} (fake upstream)."))
    body = {"type": "error", "error": {"type": kind, "message": message or default_message}}
    headers = ((b"retry-after", str(retry_after).encode()),) if retry_after is not None else ()
    return json_reply(body, status=status, headers=headers)


def empty_reply(request: Request) -> Reply:
    """A message without content, or a stream that pings and never starts a message."""
    if request.json_object.get("stream"):
        return sse_reply((_event("ping", {}),))
    return json_reply({"type": "message"})


def model_name(request: Request) -> str | None:
    model = request.json_object.get("model")
    return model if isinstance(model, str) else None


# --- POST v1/messages ---------------------------------------------------------------------------


def _messages(request: Request) -> Reply:
    body = request.json_object
    validate(body)
    # A body with `anthropic-beta` is a client's own, passed through natively: beta fields (e.g.
    # context_management) are not in the SDK's stable types, and the gateway must not drop them.
    problem = None if request.headers.get("anthropic-beta") else sdk_types.anthropic_problem(body)
    if problem:
        sdk_types.record(f"anthropic {request.path}: {problem}")
        raise Invalid(f"The body is not an anthropic.types.MessageCreateParams: {problem}")
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


def _answer(provider: str, body: dict[str, Any], options: dict[str, Any]) -> tuple[list[dict], str, str | None]:
    """The content blocks, stop_reason and stop_sequence of the answer."""
    last = body["messages"][-1]
    user_text, images = _text_and_images(last)
    tool_results = [b for b in content_blocks(last) if b.get("type") == "tool_result"]
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
        raise Invalid("limit: must be between 1 and 1000.")
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
    body = request.json_object
    if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise Invalid("model and messages: Field required (fake upstream).")
    return json_reply({"input_tokens": _prompt_tokens(body)})


# --- helpers ------------------------------------------------------------------------------------


def _text_and_images(message: dict[str, Any]) -> tuple[str, int]:
    content = message.get("content")
    if isinstance(content, str):
        return content, 0
    blocks = content_blocks(message)
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
