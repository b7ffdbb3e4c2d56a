"""The OpenAI protocol of the fake upstream, mounted at ``/{provider}/v1/``.

Answers are deterministic so tests can assert them:

- ``POST chat/completions``: chat completions (``openai_chat.py``).
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
import struct
import time
from collections.abc import Callable
from typing import Any

from . import openai_chat, openai_responses
from .assets import TINY_PNG, TINY_WAV
from .wire import Reply, Request, UploadedFile, json_reply, raw_reply, sse_data, sse_reply
from .words import word_count

NAME = "openai"
SEGMENT = "v1"

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
        return sse_reply((sse_data({}), openai_chat.DONE))
    return json_reply({})


def model_name(request: Request) -> str | None:
    model = request.json_object.get("model") or (request.form or {}).get("model")
    return model if isinstance(model, str) else None


# --- embeddings ---------------------------------------------------------------------------------


def fake_embedding(item: str | list[int], dimensions: int) -> list[float]:
    """A vector that depends on ``item``, of values exact in float32 (so base64 round trips compare equal)."""
    seed = sum(item) if isinstance(item, list) else sum(map(ord, item))
    return [((seed + 7 * k) % 17 - 8) / 8 for k in range(dimensions)]


def _embeddings(request: Request) -> Reply:
    body = request.json_object
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
    body = request.json_object
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
    body = request.json_object
    content_type = _SPEECH_TYPES.get(body.get("response_format", "mp3"))
    if not isinstance(body.get("input"), str) or content_type is None:
        return error_reply(request, 400, message="'input' is required and response_format must be known.")
    return raw_reply(TINY_WAV, content_type)


# --- helpers ------------------------------------------------------------------------------------


def _wants_stream(request: Request) -> bool:
    return bool(request.json_object.get("stream"))


_ROUTES: dict[tuple[str, str], Callable[[Request], Reply]] = {
    ("POST", "chat/completions"): lambda request: openai_chat.create(request, error_reply),
    ("GET", "models"): _list_models,
    ("POST", "embeddings"): _embeddings,
    ("POST", "images/generations"): _image_generations,
    ("POST", "audio/transcriptions"): _transcriptions,
    ("POST", "audio/translations"): _translations,
    ("POST", "audio/speech"): _speech,
    ("POST", "responses"): lambda request: openai_responses.create(request, error_reply),
}
