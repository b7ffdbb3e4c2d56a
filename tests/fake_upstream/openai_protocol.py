"""The OpenAI protocol of the fake upstream, mounted at ``/{provider}/v1/``.

Answers are deterministic so tests can assert them:

- ``POST chat/completions``: content is option ``content`` if set, else
  ``"Hello from {provider}: {last user text}"`` (+ ``" [images: N]"`` for image_url parts). With ``tools``
  (and tool_choice not "none") it calls the first tool, or the one tool_choice names: id ``call_1``,
  arguments ``{"echo": "<last user text>"}``. After a ``tool`` message: ``"Tool said: {its content}"``. With
  a JSON response_format: ``{"echo": "<last user text>"}``. ``max_tokens`` / ``max_completion_tokens``
  below the word count truncates to that many words with finish_reason ``length``. Tokens are words.
  ``stream: true`` sends the same answer as ``chat.completion.chunk`` events split into option
  ``chunks`` pieces, then a usage chunk if ``stream_options.include_usage``, then ``[DONE]``. ``n``
  gives that many identical choices (streamed interleaved, each with its own finishing chunk). Options
  ``refusal`` (False omits ``message.refusal``), ``finish_with_text`` (the last text piece rides in the
  finishing chunk) and ``stream_options`` (False: a body with it is a 422 naming it, as Mistral answers).
  With ``reasoning_effort`` (not ``none``) the answer carries ``reasoning_content``
  ``"Thinking about: {last user text}"`` first, as DeepSeek and OpenRouter send it; option
  ``reasoning`` gives a fixed ``reasoning_content`` instead.
- ``POST embeddings``: one vector per input (a string, strings, a token array or token arrays) of
  ``dimensions`` (default 8) values that depend on the input (``fake_embedding``); base64 with
  ``encoding_format: base64`` unless the model name contains ``floats-only``. Tokens are words.
- ``POST responses``: the Responses API (``openai_responses.py``).
- ``GET models``: option ``models``, owned by the provider.
- ``POST images/generations``: ``n`` tiny PNGs, as ``b64_json`` or as a URL served by the fake.
- ``POST audio/transcriptions`` / ``audio/translations``: ``"Transcribed N bytes"`` in the requested format.
- ``POST audio/speech``: a tiny WAV, tagged with the content type of ``response_format``.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import openai_responses
from .assets import TINY_PNG, TINY_WAV
from .wire import Reply, Request, UploadedFile, json_reply, raw_reply, sse_data, sse_reply

NAME = "openai"
SEGMENT = "v1"

_DONE = b"data: [DONE]\n\n"
_FINGERPRINT = "fp_fake"
_ids = itertools.count(1)

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (fake upstream)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (fake upstream)."),
    403: ("permission_error", "permission_denied", "You are not allowed to do this (fake upstream)."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist (fake upstream)."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached (fake upstream)."),
    500: ("server_error", None, "The server had an error (fake upstream)."),
    502: ("server_error", None, "Bad gateway (fake upstream)."),
    503: ("server_error", None, "The engine is currently overloaded (fake upstream)."),
}

_SPEECH_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


# --- the protocol contract (see wire.ProtocolModule) ------------------------------------------


def handle(request: Request) -> Reply:
    handler = _ROUTES.get((request.method, request.route))
    if handler is None:
        return error_reply(request, 404, message=f"Unknown route: {request.method} /v1/{request.route}")
    return handler(request)


def error_reply(request: Request, status: int, *, retry_after: int | None = None, message: str | None = None) -> Reply:
    kind, code, default_message = _ERRORS.get(status, ("server_error", None, f"HTTP {status} (fake upstream)."))
    if message is None and status == 401:  # as some upstreams do, echo the credential it was sent
        message = f"Incorrect API key provided: {request.headers.get('authorization', '(none)')} (fake upstream)."
    elif message is None and status == 404 and model_name(request):
        message = f"The model `{model_name(request)}` does not exist (fake upstream)."
    body = {"error": {"message": message or default_message, "type": kind, "param": None, "code": code}}
    headers = ((b"retry-after", str(retry_after).encode()),) if retry_after is not None else ()
    return json_reply(body, status=status, headers=headers)


def empty_reply(request: Request) -> Reply:
    if _wants_stream(request):
        return sse_reply((sse_data({}), _DONE))
    return json_reply({})


def model_name(request: Request) -> str | None:
    model = _body(request).get("model") or (request.form or {}).get("model")
    return model if isinstance(model, str) else None


# --- chat completions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    content: str | None
    tool_name: str | None
    arguments: str
    finish_reason: str
    usage: dict[str, int]


def _chat_completions(request: Request) -> Reply:
    body = _body(request)
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
    events.append(_DONE)
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


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` in ``pieces`` parts of nearly equal length (fewer if it is shorter); none if empty."""
    count = max(1, min(pieces, len(text)))
    bounds = [len(text) * i // count for i in range(count + 1)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def word_count(text: str) -> int:
    """Words in ``text``, the fake's token count."""
    return len(text.split())


def _usage(prompt_tokens: int, completion: str) -> dict[str, int]:
    completion_tokens = word_count(completion)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


# --- embeddings ---------------------------------------------------------------------------------


def fake_embedding(item: str | list[int], dimensions: int) -> list[float]:
    """A vector that depends on ``item``, of values exact in float32 (so base64 round trips compare equal)."""
    seed = sum(item) if isinstance(item, list) else sum(map(ord, item))
    return [((seed + 7 * k) % 17 - 8) / 8 for k in range(dimensions)]


def _embeddings(request: Request) -> Reply:
    body = _body(request)
    value, dimensions = body.get("input"), body.get("dimensions") or 8
    if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(t, int) for t in value)):
        items = [value]
    elif isinstance(value, list) and value and all(isinstance(i, str | list) for i in value):
        items = value
    else:
        return error_reply(request, 400, message="'input' must be a string, strings or token arrays.")
    if not isinstance(dimensions, int) or dimensions < 1:
        return error_reply(request, 400, message="'dimensions' must be a positive integer.")
    as_base64 = body.get("encoding_format") == "base64" and "floats-only" not in str(body.get("model"))
    data = []
    for index, item in enumerate(items):
        vector: Any = fake_embedding(item, dimensions)
        if as_base64:
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(len(item) if isinstance(item, list) else word_count(item) for item in items)
    answer: dict[str, Any] = {"object": "list", "data": data, "model": str(body.get("model", ""))}
    if request.options["usage"]:
        answer["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return json_reply(answer)


# --- models, images, audio ---------------------------------------------------------------------


def _list_models(request: Request) -> Reply:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": request.provider} for m in request.options["models"]]
    return json_reply({"object": "list", "data": data})


def _image_generations(request: Request) -> Reply:
    body = _body(request)
    if not isinstance(body.get("prompt"), str):
        return error_reply(request, 400, message="'prompt' is required.")
    if body.get("response_format") == "b64_json":
        image = {"b64_json": base64.b64encode(TINY_PNG).decode("ascii")}
    else:
        image = {"url": request.options.get("image_url") or f"{request.base_url}/files/image.png"}
    count = body.get("n") if isinstance(body.get("n"), int) else 1
    return json_reply({"created": int(time.time()), "data": [image] * count})


def _transcriptions(request: Request) -> Reply:
    return _audio_text(request, task="transcribe", verb="Transcribed")


def _translations(request: Request) -> Reply:
    return _audio_text(request, task="translate", verb="Translated")


def _audio_text(request: Request, *, task: str, verb: str) -> Reply:
    form = request.form or {}
    upload = form.get("file")
    if upload is None:
        return error_reply(request, 400, message="'file' is required (multipart/form-data).")
    size = len(upload.data) if isinstance(upload, UploadedFile) else len(upload.encode())
    text = f"{verb} {size} bytes"
    response_format = form.get("response_format", "json")
    if response_format == "json":
        return json_reply({"text": text})
    if response_format == "verbose_json":
        return json_reply({"task": task, "language": "english", "duration": 1.0, "text": text, "segments": []})
    if response_format == "text":
        return raw_reply(text.encode(), "text/plain; charset=utf-8")
    if response_format == "srt":
        return raw_reply(f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n".encode(), "text/plain; charset=utf-8")
    if response_format == "vtt":
        return raw_reply(f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n".encode(), "text/plain; charset=utf-8")
    return error_reply(request, 400, message=f"Unsupported response_format {response_format!r}.")


def _speech(request: Request) -> Reply:
    body = _body(request)
    content_type = _SPEECH_TYPES.get(body.get("response_format", "mp3"))
    if not isinstance(body.get("input"), str) or content_type is None:
        return error_reply(request, 400, message="'input' is required and response_format must be known.")
    return raw_reply(TINY_WAV, content_type)


# --- helpers ------------------------------------------------------------------------------------


def _body(request: Request) -> dict[str, Any]:
    return request.json if isinstance(request.json, dict) else {}


def _field(body: dict[str, Any], name: str, key: str) -> Any:
    """``body[name][key]``, or None when either is missing or ``body[name]`` is not an object."""
    value = body.get(name)
    return value.get(key) if isinstance(value, dict) else None


def _wants_stream(request: Request) -> bool:
    return bool(_body(request).get("stream"))


_ROUTES: dict[tuple[str, str], Callable[[Request], Reply]] = {
    ("POST", "chat/completions"): _chat_completions,
    ("GET", "models"): _list_models,
    ("POST", "embeddings"): _embeddings,
    ("POST", "images/generations"): _image_generations,
    ("POST", "audio/transcriptions"): _transcriptions,
    ("POST", "audio/translations"): _translations,
    ("POST", "audio/speech"): _speech,
    ("POST", "responses"): lambda request: openai_responses.create(request, error_reply),
}
