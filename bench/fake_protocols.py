"""The bench fake upstream's answers in Anthropic's Messages API and OpenAI's Responses API, built
once per model and kept (only `model` varies between requests), so serving them costs the fake
upstream no more than a chat answer.

Each carries the same text as the chat answer, in as many text deltas as the chat stream has chunks
(`--chunks`, 20): a Messages stream is `message_start`, `content_block_start`, `ping`, the deltas,
`content_block_stop`, `message_delta`, `message_stop`; a Responses stream is `response.created`,
`response.in_progress`, `response.output_item.added`, `response.content_part.added`, the deltas,
`response.output_text.done`, `response.content_part.done`, `response.output_item.done`,
`response.completed`.
"""

from __future__ import annotations

import time
from functools import lru_cache

import orjson

INPUT_TOKENS = 8
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)


def json_answer(value: dict) -> bytes:
    body = orjson.dumps(value)
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def _event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


# --- Anthropic Messages API ------------------------------------------------------------------------


def _message(model: str, pieces: tuple[str, ...], *, streaming: bool) -> dict:
    return {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if streaming else [{"type": "text", "text": "".join(pieces)}],
        "stop_reason": None if streaming else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1 if streaming else len(pieces)},
    }


@lru_cache(maxsize=64)
def messages_answer(model: str, pieces: tuple[str, ...]) -> bytes:
    """A whole HTTP response: one Messages `message`."""
    return json_answer(_message(model, pieces, streaming=False))


@lru_cache(maxsize=64)
def messages_events(model: str, pieces: tuple[str, ...]) -> tuple[bytes, ...]:
    """The Server-Sent Events of a streamed Messages answer (without HTTP framing)."""
    deltas = [
        _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
        )
        for piece in pieces
    ]
    return (
        _event("message_start", {"type": "message_start", "message": _message(model, pieces, streaming=True)}),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _event("ping", {"type": "ping"}),
        *deltas,
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    )


# --- OpenAI Responses API --------------------------------------------------------------------------


def _output_text(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(text: str | None) -> dict:
    done = text is not None
    return {
        "type": "message",
        "id": "msg_bench",
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": [_output_text(text)] if done else [],
    }


def _response(model: str, pieces: tuple[str, ...], *, status: str) -> dict:
    done = status == "completed"
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": model,
        "output": [_message_item("".join(pieces))] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": False,
        "usage": (
            {
                "input_tokens": INPUT_TOKENS,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": len(pieces),
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": INPUT_TOKENS + len(pieces),
            }
            if done
            else None
        ),
    }


@lru_cache(maxsize=64)
def responses_answer(model: str, pieces: tuple[str, ...]) -> bytes:
    """A whole HTTP response: one completed `response`."""
    return json_answer(_response(model, pieces, status="completed"))


@lru_cache(maxsize=64)
def responses_events(model: str, pieces: tuple[str, ...]) -> tuple[bytes, ...]:
    """The Server-Sent Events of a streamed Responses answer (without HTTP framing), numbered."""
    text = "".join(pieces)
    started = _response(model, pieces, status="in_progress")
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
        {"type": "response.output_item.added", "output_index": 0, "item": _message_item(None)},
        {"type": "response.content_part.added", **where, "part": _output_text("")},
        *({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []} for piece in pieces),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _output_text(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": _message_item(text)},
        {"type": "response.completed", "response": _response(model, pieces, status="completed")},
    ]
    return tuple(_event(event["type"], {**event, "sequence_number": n}) for n, event in enumerate(events))
