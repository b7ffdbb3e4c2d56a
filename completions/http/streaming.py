"""Server-Sent Events framing for streamed answers."""

from typing import Any

import orjson

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"


def sse_event(data: Any) -> bytes:
    """One `data:` event; orjson never emits raw newlines, so one line is always enough."""
    return b"data: " + orjson.dumps(data) + b"\n\n"
