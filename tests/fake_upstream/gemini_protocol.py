"""The Gemini API of the fake upstream, mounted at ``/{provider}/v1beta/``.

A client's base URL is ``provider_url(name, "gemini")``, ending in ``/v1beta`` like
``https://generativelanguage.googleapis.com/v1beta``. Like the real API:

- the key goes in ``x-goog-api-key`` (or the ``key`` query parameter); without one the answer is 403
  ``PERMISSION_DENIED``, and a key starting with ``invalid`` gets Gemini's 400 ``INVALID_ARGUMENT`` with
  reason ``API_KEY_INVALID``;
- ``POST models/{model}:generateContent`` takes ``contents`` (roles ``user`` / ``model``, each part holding
  exactly one of text, inlineData, functionCall, functionResponse...), ``systemInstruction``, ``tools``
  (``functionDeclarations``), ``toolConfig`` and ``generationConfig``; a malformed body is a 400 naming
  the problem, so tests prove the translation is valid;
- ``POST models/{model}:streamGenerateContent?alt=sse`` sends ``data:`` events of the same
  ``GenerateContentResponse`` (without ``alt=sse``: one JSON array); the last one carries
  ``finishReason``; every one carries ``usageMetadata``;
- errors are ``{"error": {"code", "message", "status"}}``;
- ``GET models`` pages option ``models`` (as ``models/{name}``, ``supportedGenerationMethods``
  ``generateContent``) plus one embedding-only model, with ``pageSize`` / ``pageToken``;
- ``POST models/{model}:batchEmbedContents`` takes ``requests``, each naming ``models/{model}`` with
  text ``content`` and an optional ``outputDimensionality`` (default 8), and answers
  ``{"embeddings": [{"values": [...]}]}`` (the OpenAI fake's ``fake_embedding``), without token counts;
- ``generationConfig.thinkingConfig`` (``thinkingBudget`` -1 to 24576, ``includeThoughts``): with
  ``includeThoughts`` and a budget other than 0 the answer starts with a thought part
  ``{"text": "Thinking about: {last user text}", "thought": true}``, counted in ``thoughtsTokenCount``.

Answers mirror the OpenAI fake: ``"Hello from {provider}: {last user text}"`` (+ ``" [images: N]"`` for
image ``inlineData``), or option ``content``; with function declarations (mode not ``NONE``) a
``functionCall`` of the first (or first allowed) function with ``{"echo": "<last user text>"}``; after a
``functionResponse``, ``"Tool said: {response}"``; with ``responseMimeType`` application/json,
``{"echo": "<last user text>"}``. ``candidateCount`` candidates; ``maxOutputTokens`` below the word count
truncates (``MAX_TOKENS``); a stop sequence cuts the answer there. Tokens are words. With
``responseLogprobs`` each text part's candidate carries a ``logprobsResult`` (one entry per word, top
candidates up to ``logprobs``). Option ``finish_reason`` replaces the finish reason (e.g.
``MALFORMED_FUNCTION_CALL``, whose candidate then has no content, as Gemini sends it). Every body is also
checked against the google-genai SDK's types (``sdk_types.py``).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from typing import Any

import orjson

from . import sdk_types
from .openai_protocol import fake_embedding
from .wire import Reply, Request, json_reply, sse_reply
from .words import split_text, word_count

NAME = "gemini"
SEGMENT = "v1beta"

PART_FIELDS = frozenset(
    {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"}
)
EMBEDDING_MODEL = "text-embedding-fake"
_ids = itertools.count(1)

_STATUSES: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument (fake upstream)."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials (fake upstream)."),
    403: ("PERMISSION_DENIED", "The caller does not have permission (fake upstream)."),
    404: ("NOT_FOUND", "Requested entity was not found (fake upstream)."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota) (fake upstream)."),
    500: ("INTERNAL", "An internal error has occurred (fake upstream)."),
    502: ("UNAVAILABLE", "Bad gateway (fake upstream)."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later (fake upstream)."),
}


class _Invalid(Exception):
    """A request the real API would refuse with 400 INVALID_ARGUMENT."""


# --- the protocol contract (see wire.ProtocolModule) ------------------------------------------


def handle(request: Request) -> Reply:
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    if not key:
        return error_reply(request, 403, message="Method doesn't allow unregistered callers (fake upstream).")
    if key.startswith("invalid"):
        body = _error_body(400, "API key not valid. Please pass a valid API key. (fake upstream)")
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        body["error"]["details"] = [{**info, "domain": "googleapis.com"}]
        return json_reply(body, status=400)
    model, _, method = request.route.removeprefix("models/").partition(":")
    try:
        if request.method == "GET" and request.route == "models":
            return _list_models(request)
        if request.method == "POST" and request.route.startswith("models/") and model:
            if method == "generateContent":
                return json_reply(_generate(request, model)[0])
            if method == "streamGenerateContent":
                return _stream(request, model)
            if method == "batchEmbedContents":
                return _batch_embed(request, model)
    except _Invalid as exc:
        return error_reply(request, 400, message=str(exc))
    return error_reply(request, 404, message=f"Unknown route: {request.method} /v1beta/{request.route}")


def error_reply(request: Request, status: int, *, retry_after: int | None = None, message: str | None = None) -> Reply:
    headers = ((b"retry-after", str(retry_after).encode()),) if retry_after is not None else ()
    return json_reply(_error_body(status, message), status=status, headers=headers)


def empty_reply(request: Request) -> Reply:
    """A response without candidates, or a stream of one."""
    if request.route.endswith(":streamGenerateContent"):
        return sse_reply((_sse({}),))
    return json_reply({})


def model_name(request: Request) -> str | None:
    if request.route.startswith("models/") and ":" in request.route:
        return request.route.removeprefix("models/").partition(":")[0]
    return None


# --- generateContent ----------------------------------------------------------------------------


def _generate(request: Request, model: str) -> tuple[dict[str, Any], list[dict[str, Any]], str, dict[str, int]]:
    """The whole response, and its answer parts, finish reason and usage (for streaming)."""
    body = request.json_object
    _validate(body)
    problem = sdk_types.gemini_problem(body)
    if problem:
        sdk_types.record(f"gemini {request.path}: {problem}")
        raise _Invalid(f"The body does not match google.genai.types: {problem}")
    parts, finish_reason = _answer(request.provider, body, request.options)
    config = body.get("generationConfig") or {}
    count = config.get("candidateCount") or 1
    output = "".join(p.get("text") or json.dumps(p.get("functionCall")) for p in parts)
    prompt = _prompt_tokens(body)
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": word_count(output) * count}
    thinking = config.get("thinkingConfig") or {}
    if thinking.get("includeThoughts") and thinking.get("thinkingBudget") != 0:
        user_text = " ".join(p["text"] for p in body["contents"][-1]["parts"] if "text" in p)
        parts = [{"text": f"Thinking about: {user_text}", "thought": True}, *parts]
        usage["thoughtsTokenCount"] = word_count(parts[0]["text"]) * count
    usage["totalTokenCount"] = prompt + usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0)
    candidates = [
        {"content": {"parts": parts, "role": "model"}, "finishReason": finish_reason, "index": index}
        for index in range(count)
    ]
    if request.options["finish_reason"]:
        finish_reason = request.options["finish_reason"]
        candidates = [{"finishReason": finish_reason, "index": index} for index in range(count)]
    elif config.get("responseLogprobs"):
        for candidate in candidates:
            candidate["logprobsResult"] = _logprobs(output, config.get("logprobs") or 0)
    response = {"candidates": candidates, "modelVersion": model, "responseId": f"fake{next(_ids)}"}
    if request.options["usage"]:
        response["usageMetadata"] = usage
    return response, parts, finish_reason, usage


def _validate(body: dict[str, Any]) -> None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _Invalid("* GenerateContentRequest.contents: contents is not specified")
    for index, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
            raise _Invalid(f"* GenerateContentRequest.contents[{index}].role: must be 'user' or 'model'.")
        _validate_parts(f"contents[{index}]", content.get("parts"))
    system = body.get("systemInstruction")
    if system is not None:
        _validate_parts("system_instruction", (system or {}).get("parts"))
    for tool in body.get("tools") or ():
        for declaration in tool.get("functionDeclarations") or ():
            if not declaration.get("name"):
                raise _Invalid("* GenerateContentRequest.tools.function_declarations.name: name is required.")
            if "additionalProperties" in json.dumps(declaration.get("parameters") or {}):
                raise _Invalid('Invalid JSON payload received. Unknown name "additionalProperties".')
    thinking = (body.get("generationConfig") or {}).get("thinkingConfig")
    if thinking is not None:
        unknown = set(thinking) - {"thinkingBudget", "includeThoughts", "thinkingLevel"}
        budget = thinking.get("thinkingBudget", -1)
        if unknown or not isinstance(budget, int) or not -1 <= budget <= 24576:
            raise _Invalid(f"* GenerateContentRequest.generation_config.thinking_config: invalid {sorted(thinking)}.")


def _validate_parts(where: str, parts: Any) -> None:
    if not isinstance(parts, list) or not parts:
        raise _Invalid(f"* GenerateContentRequest.{where}.parts: must not be empty.")
    for index, part in enumerate(parts):
        fields = set(part) & PART_FIELDS if isinstance(part, dict) else set()
        if len(fields) != 1:
            raise _Invalid(f"* GenerateContentRequest.{where}.parts[{index}]: exactly one data field is required.")
        inline = part.get("inlineData")
        if inline is not None:
            if not inline.get("mimeType"):
                raise _Invalid(f"* GenerateContentRequest.{where}.parts[{index}].inline_data.mime_type: required.")
            try:
                base64.b64decode(inline.get("data") or "", validate=True)
            except (binascii.Error, ValueError) as exc:
                message = f"* GenerateContentRequest.{where}.parts[{index}].inline_data.data: not base64."
                raise _Invalid(message) from exc
        response = part.get("functionResponse")
        if response is not None and (not response.get("name") or not isinstance(response.get("response"), dict)):
            raise _Invalid(f"* GenerateContentRequest.{where}.parts[{index}].function_response: name and response.")


def _answer(provider: str, body: dict[str, Any], options: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    last = body["contents"][-1]
    parts = [p for p in last["parts"] if isinstance(p, dict)]
    user_text = " ".join(p["text"] for p in parts if "text" in p)
    images = sum(1 for p in parts if str((p.get("inlineData") or {}).get("mimeType", "")).startswith("image/"))
    results = [p["functionResponse"] for p in parts if "functionResponse" in p]
    function = None if results or last["role"] != "user" else _chosen_function(body)
    if function is not None:
        return [{"functionCall": {"name": function, "args": {"echo": user_text}}}], "STOP"
    config = body.get("generationConfig") or {}
    if results:
        response = results[-1]["response"]
        text = "Tool said: " + (str(response["content"]) if set(response) == {"content"} else json.dumps(response))
    elif options["content"] is not None:
        text = options["content"]
    elif config.get("responseMimeType") == "application/json":
        text = json.dumps({"echo": user_text})
    else:
        text = f"Hello from {provider}: {user_text}" + (f" [images: {images}]" if images else "")
    finish_reason = "STOP"
    for sequence in config.get("stopSequences") or ():
        if sequence and sequence in text:
            text = text.split(sequence, 1)[0]
            break
    limit = config.get("maxOutputTokens")
    if isinstance(limit, int) and limit < word_count(text):
        text, finish_reason = " ".join(text.split()[:limit]), "MAX_TOKENS"
    return [{"text": text}], finish_reason


def _stream(request: Request, model: str) -> Reply:
    """The answer in option ``chunks`` text pieces (a function call in one), then a closing event with
    ``finishReason``; every event carries usageMetadata so far."""
    response, parts, finish_reason, usage = _generate(request, model)
    count = len(response["candidates"])
    pieces: list[dict[str, Any]] = []
    for part in parts:
        if "text" in part:
            pieces += [{**part, "text": piece} for piece in split_text(part["text"], request.options["chunks"])]
        else:
            pieces.append(part)
    head = {"modelVersion": model, "responseId": response["responseId"]}

    def event(part: dict[str, Any], finish: str | None, tokens: int) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        chunk: dict[str, Any] = {"candidates": [{**candidate, "index": i} for i in range(count)], **head}
        if request.options["usage"]:
            chunk["usageMetadata"] = {"promptTokenCount": usage["promptTokenCount"], "candidatesTokenCount": tokens}
            chunk["usageMetadata"]["totalTokenCount"] = usage["promptTokenCount"] + tokens
        return chunk

    events, sent = [], 0
    for piece in pieces:
        sent += word_count(piece.get("text", "")) if "text" in piece else word_count(json.dumps(piece["functionCall"]))
        events.append(event(piece, None, min(sent * count, usage["candidatesTokenCount"])))
    events.append(event({"text": ""}, finish_reason, usage["candidatesTokenCount"]))
    if request.query.get("alt") != "sse":
        return json_reply(events)
    return sse_reply([_sse(e) for e in events])


# --- batchEmbedContents -------------------------------------------------------------------------


def _batch_embed(request: Request, model: str) -> Reply:
    requests = request.json_object.get("requests")
    if not isinstance(requests, list) or not requests:
        raise _Invalid("* BatchEmbedContentsRequest.requests: requests is not specified")
    embeddings = []
    for index, item in enumerate(requests):
        if not isinstance(item, dict) or item.get("model") != f"models/{model}":
            raise _Invalid(f"* BatchEmbedContentsRequest.requests[{index}].model: must be models/{model}.")
        parts = (item.get("content") or {}).get("parts")
        _validate_parts(f"requests[{index}].content", parts)
        text = " ".join(p.get("text", "") for p in parts)
        dimensions = item.get("outputDimensionality", 8)
        if not isinstance(dimensions, int) or dimensions < 1:
            raise _Invalid(f"* BatchEmbedContentsRequest.requests[{index}].output_dimensionality: must be positive.")
        embeddings.append({"values": fake_embedding(text, dimensions)})
    return json_reply({"embeddings": embeddings})


# --- GET models ---------------------------------------------------------------------------------


def _list_models(request: Request) -> Reply:
    entries = [_model_entry(name, ["generateContent", "countTokens"]) for name in request.options["models"]]
    entries.append(_model_entry(EMBEDDING_MODEL, ["embedContent"]))
    size = int(request.query.get("pageSize") or 50)
    start = int(request.query.get("pageToken") or 0)
    body: dict[str, Any] = {"models": entries[start : start + size]}
    if start + size < len(entries):
        body["nextPageToken"] = str(start + size)
    return json_reply(body)


def _model_entry(name: str, methods: list[str]) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": name,
        "description": f"Fake model {name}.",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": methods,
    }


# --- helpers ------------------------------------------------------------------------------------


def _error_body(status: int, message: str | None) -> dict[str, Any]:
    name, default_message = _STATUSES.get(status, ("UNKNOWN", f"HTTP {status} (fake upstream)."))
    return {"error": {"code": status, "message": message or default_message, "status": name}}


def _chosen_function(body: dict[str, Any]) -> str | None:
    names = [d.get("name") for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()]
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if not names or config.get("mode") == "NONE":
        return None
    return (config.get("allowedFunctionNames") or names)[0]


def _prompt_tokens(body: dict[str, Any]) -> int:
    parts = [p for c in body["contents"] for p in c["parts"]]
    parts += (body.get("systemInstruction") or {}).get("parts") or []
    return sum(word_count(p.get("text", "")) for p in parts if isinstance(p, dict))


def _logprobs(text: str, top: int) -> dict[str, Any]:
    """A `logprobsResult` with one entry per word (log probability -0.5, alternatives lower)."""
    words = text.split()
    chosen = [{"token": word, "logProbability": -0.5} for word in words]
    alternatives = [{"token": f"alt{rank}", "logProbability": -2.0 - rank} for rank in range(top)]
    tops = [{"candidates": [chosen[i], *alternatives]} for i in range(len(words))]
    return {"topCandidates": tops, "chosenCandidates": chosen, "logProbabilitySum": -0.5 * len(words)}


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\r\n\r\n"
