"""Chat completions of the fake upstream's OpenAI protocol: ``POST /{provider}/v1/chat/completions``.

The content is option ``content`` if set, else ``"Hello from {provider}: {last user text}"``
(+ ``" [images: N]"`` for image_url parts). With ``tools`` (and tool_choice not "none") it calls the first
tool, or the one tool_choice names: id ``call_1``, arguments ``{"echo": "<last user text>"}``. After a
``tool`` message: ``"Tool said: {its content}"``. With a JSON response_format:
``{"echo": "<last user text>"}``. ``max_tokens`` / ``max_completion_tokens`` below the word count
truncates to that many words with finish_reason ``length``. Tokens are words.

``stream: true`` sends the same answer as ``chat.completion.chunk`` events split into option ``chunks``
pieces, then a usage chunk if ``stream_options.include_usage``, then ``[DONE]``. ``n`` gives that many
identical choices (streamed interleaved, each with its own finishing chunk). Options ``refusal`` (False
omits ``message.refusal``), ``finish_with_text`` (the last text piece rides in the finishing chunk) and
``stream_options`` (False: a body with it is a 422 naming it, as Mistral answers). With
``reasoning_effort`` (not ``none``) the answer carries ``reasoning_content``
``"Thinking about: {last user text}"`` first, as DeepSeek and OpenRouter send it; option ``reasoning``
gives a fixed ``reasoning_content`` instead.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from .wire import Reply, Request, json_reply, sse_data, sse_reply
from .words import split_text, word_count

DONE = b"data: [DONE]\n\n"
_FINGERPRINT = "fp_fake"
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class _Answer:
    content: str | None
    tool_name: str | None
    arguments: str
    finish_reason: str
    usage: dict[str, int]


def create(request: Request, error_reply: Any) -> Reply:
    """The completion (or its stream) for a chat request; ``error_reply`` renders a 400."""
    body = request.json_object
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_reply(request, 400, message="'messages' must be a non-empty list.")
    if "stream_options" in body and not request.options["stream_options"]:
        detail = [
            {"type": "extra_forbidden", "loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted"}
        ]
        return json_reply(
            {"object": "error", "message": {"detail": detail}, "type": "invalid_request_error"}, status=422
        )
    answer = _answer(request.provider, body, request.options)
    head = {"id": f"chatcmpl-fake{next(_ids)}", "created": int(time.time()), "model": str(body.get("model", ""))}
    count = body["n"] if isinstance(body.get("n"), int) and 1 <= body["n"] <= 10 else 1
    reasoning = request.options.get("reasoning") or _reasoning(body)
    if body.get("stream"):
        return sse_reply(_chunks(head, answer, body, request.options, count, reasoning))
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if not request.options["refusal"]:
        del message["refusal"]
    if reasoning:
        message["reasoning_content"] = reasoning
    if answer.tool_name is not None:
        message["tool_calls"] = [_tool_call(answer)]
    choices = [
        {"index": index, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}
        for index in range(count)
    ]
    completion = {
        **head,
        "object": "chat.completion",
        "system_fingerprint": _FINGERPRINT,
        "choices": choices,
        "usage": answer.usage,
    }
    if not request.options["usage"]:
        del completion["usage"]
    return json_reply(completion)


def _answer(provider: str, body: dict[str, Any], options: dict[str, Any]) -> _Answer:
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    user_text, images = _last_user_text(messages)
    prompt_tokens = sum(word_count(_text_and_images(m.get("content"))[0]) for m in messages)
    last = messages[-1] if messages else {}
    tool_name = None if last.get("role") == "tool" else _chosen_tool(body)
    if tool_name is not None:
        arguments = json.dumps({"echo": user_text})
        return _Answer(None, tool_name, arguments, "tool_calls", _usage(prompt_tokens, arguments))

    if last.get("role") == "tool":
        content = "Tool said: " + _text_and_images(last.get("content"))[0]
    elif options["content"] is not None:
        content = options["content"]
    elif _field(body, "response_format", "type") in ("json_object", "json_schema"):
        content = json.dumps({"echo": user_text})
    else:
        content = f"Hello from {provider}: {user_text}" + (f" [images: {images}]" if images else "")

    finish_reason = "stop"
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and limit < word_count(content):
        content = " ".join(content.split()[:limit])
        finish_reason = "length"
    return _Answer(content, None, "", finish_reason, _usage(prompt_tokens, content))


def _reasoning(body: dict[str, Any]) -> str | None:
    if body.get("reasoning_effort") in (None, "none"):
        return None
    return "Thinking about: " + _last_user_text([m for m in body["messages"] if isinstance(m, dict)])[0]


def _chunks(
    head: dict[str, Any],
    answer: _Answer,
    body: dict[str, Any],
    options: dict[str, Any],
    count: int,
    reasoning: str | None = None,
) -> list[bytes]:
    include_usage = options["usage"] and bool(_field(body, "stream_options", "include_usage"))
    base = {**head, "object": "chat.completion.chunk", "system_fingerprint": _FINGERPRINT}
    if include_usage:
        base["usage"] = None

    def chunks(delta: dict[str, Any], finish_reason: str | None = None) -> list[bytes]:
        """One chunk per choice (interleaved, as OpenAI streams n > 1)."""
        choices = [
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason} for index in range(count)
        ]
        return [sse_data({**base, "choices": [choice]}) for choice in choices]

    if answer.tool_name is None:
        # A fixed `reasoning` option arrives as one delta; reasoning_effort's text in `chunks` pieces.
        thoughts = [reasoning] if options.get("reasoning") else split_text(reasoning or "", options["chunks"])
        deltas = [{"reasoning_content": piece} for piece in thoughts if piece]
        deltas += [{"content": piece} for piece in split_text(answer.content or "", options["chunks"])]
        events = chunks({"role": "assistant", "content": ""})
    else:
        # Like OpenAI: the call's id, type and name first with empty arguments, then argument fragments.
        first_call = {**_tool_call(answer), "index": 0}
        first_call["function"] = {"name": answer.tool_name, "arguments": ""}
        events = chunks({"role": "assistant", "content": None, "tool_calls": [first_call]})
        pieces = split_text(answer.arguments, options["chunks"])
        deltas = [{"tool_calls": [{"index": 0, "function": {"arguments": piece}}]} for piece in pieces]
    last = deltas.pop() if options["finish_with_text"] and deltas else {}
    for delta in deltas:
        events += chunks(delta)
    events += chunks(last, answer.finish_reason)
    if include_usage:
        events.append(sse_data({**base, "choices": [], "usage": answer.usage}))
    events.append(DONE)
    return events


def _tool_call(answer: _Answer) -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": answer.tool_name, "arguments": answer.arguments}}


def _chosen_tool(body: dict[str, Any]) -> str | None:
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return choice["function"].get("name")
    return tools[0]["function"].get("name")


def _last_user_text(messages: list[dict[str, Any]]) -> tuple[str, int]:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_and_images(message.get("content"))
    return "", 0


def _text_and_images(content: Any) -> tuple[str, int]:
    """The text of a message's content (a string or a list of parts) and its count of image parts."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        return "", 0
    parts = [p for p in content if isinstance(p, dict)]
    text = " ".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
    return text, sum(1 for p in parts if p.get("type") == "image_url")


def _usage(prompt_tokens: int, completion: str) -> dict[str, int]:
    completion_tokens = word_count(completion)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _field(body: dict[str, Any], name: str, key: str) -> Any:
    """``body[name][key]``, or None when either is missing or ``body[name]`` is not an object."""
    value = body.get(name)
    return value.get(key) if isinstance(value, dict) else None
