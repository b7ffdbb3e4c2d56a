"""The OpenAI Responses API of the fake upstream: ``POST /{provider}/v1/responses``.

Deterministic like the chat fake: the answer is option ``content`` if set, else ``"Hello from {provider}:
{last user text}"``. With function tools (``tool_choice`` not ``"none"``) it calls the first one (or the
one ``tool_choice`` names): call_id ``call_1``, arguments ``{"echo": "<last user text>"}``. After a
``function_call_output`` item: ``"Tool said: {its output}"``. With ``reasoning`` a reasoning item comes
first, carrying ``encrypted_content`` when ``include`` asks for ``reasoning.encrypted_content``.
``max_output_tokens`` below the word count truncates (status ``incomplete``). Tokens are words.
``stream: true`` sends OpenAI's events (``event:`` and ``data:`` lines), the text or the arguments in
option ``chunks`` deltas, ending with ``response.completed`` / ``response.incomplete``.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import orjson

from .wire import Reply, Request, json_reply, sse_reply

_ids = itertools.count(1)


def create(request: Request, error_reply: Any) -> Reply:
    body = request.json_object
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items or not isinstance(body.get("model"), str):
        return error_reply(request, 400, message="'model' and a non-empty 'input' are required.")
    response = _response(request.provider, body, items, request.options)
    if body.get("stream"):
        return sse_reply(_events(response, request.options["chunks"]))
    return json_reply(response)


def _response(provider: str, body: dict[str, Any], items: list[Any], options: dict[str, Any]) -> dict[str, Any]:
    items = [item for item in items if isinstance(item, dict)]
    user_text = next((_text(i.get("content")) for i in reversed(items) if i.get("role") == "user"), "")
    last = items[-1] if items else {}
    tool = None if last.get("type") == "function_call_output" else _chosen_tool(body)
    output: list[dict[str, Any]] = []
    serial = next(_ids)
    if isinstance(body.get("reasoning"), dict):
        reasoning = {"id": f"rs_fake{serial}", "type": "reasoning", "summary": []}
        if "reasoning.encrypted_content" in (body.get("include") or ()):
            reasoning["encrypted_content"] = "encrypted-fake-reasoning"
        output.append(reasoning)
    status, incomplete = "completed", None
    if tool is not None:
        arguments = json.dumps({"echo": user_text})
        output.append(
            {
                "id": f"fc_fake{serial}",
                "type": "function_call",
                "status": "completed",
                "call_id": "call_1",
                "name": tool,
                "arguments": arguments,
            }
        )
        spent = arguments
    else:
        if last.get("type") == "function_call_output":
            text = "Tool said: " + _text(last.get("output"))
        elif options["content"] is not None:
            text = options["content"]
        else:
            text = f"Hello from {provider}: {user_text}"
        limit = body.get("max_output_tokens")
        if isinstance(limit, int) and limit < len(text.split()):
            text, status, incomplete = " ".join(text.split()[:limit]), "incomplete", {"reason": "max_output_tokens"}
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        output.append(
            {"id": f"msg_fake{serial}", "type": "message", "status": status, "role": "assistant", "content": [part]}
        )
        spent = text
    prompt = sum(len(_text(i.get("content", i.get("output"))).split()) for i in items)
    prompt += len(str(body.get("instructions") or "").split())
    completion = len(spent.split())
    return {
        "id": f"resp_fake{serial}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning"),
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        },
        "metadata": body.get("metadata") or {},
    }


def _events(response: dict[str, Any], pieces: int) -> list[bytes]:
    sequence = itertools.count()
    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        data = orjson.dumps({"type": kind, "sequence_number": next(sequence), **fields})
        events.append(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")

    started = {**response, "status": "in_progress", "output": [], "completed_at": None}
    del started["usage"]
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    for index, item in enumerate(response["output"]):
        place = {"item_id": item["id"], "output_index": index}
        emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
        if item["type"] == "function_call":
            for piece in _split(item["arguments"], pieces):
                emit("response.function_call_arguments.delta", **place, delta=piece)
            emit("response.function_call_arguments.done", **place, name=item["name"], arguments=item["arguments"])
        elif item["type"] == "message":
            part = item["content"][0]
            emit("response.content_part.added", **place, content_index=0, part={**part, "text": ""})
            for piece in _split(part["text"], pieces):
                emit("response.output_text.delta", **place, content_index=0, delta=piece, logprobs=[])
            emit("response.output_text.done", **place, content_index=0, text=part["text"], logprobs=[])
            emit("response.content_part.done", **place, content_index=0, part=part)
        emit("response.output_item.done", output_index=index, item=item)
    emit(f"response.{response['status']}", response=response)
    return events


def _chosen_tool(body: dict[str, Any]) -> str | None:
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return choice.get("name")
    return tools[0].get("name")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _split(text: str, pieces: int) -> list[str]:
    count = max(1, min(pieces, len(text)))
    bounds = [len(text) * i // count for i in range(count + 1)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
