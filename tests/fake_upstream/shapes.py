"""Fault modes that answer well-formed JSON of the wrong shape, in the OpenAI protocol's terms.

``oddchoices``: a stream whose first chunk has a string for `choices` (the gateway must fail over or
answer 502), or a chat.completion whose `choices` is ``["not an object"]``. ``odddelta``: a chunk after
the first whose `delta` is a number. ``oddcontent``: a chunk after the first whose `content` is an
object and whose tool call `arguments` is a number. After the first chunk the gateway must end the
stream with an error event. The rest of the reply is unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from .wire import Reply, sse_data

SHAPE_MODES = frozenset({"oddchoices", "odddelta", "oddcontent"})

_CHUNK = {"id": "odd", "object": "chat.completion.chunk"}
_ODD_DELTA = {"content": {"a": 1}, "tool_calls": [{"function": {"arguments": 5}}]}
_ODD_CHUNKS = {  # mode -> (position in the stream, the chunk put there)
    "oddchoices": (0, {**_CHUNK, "choices": "not a list"}),
    "odddelta": (1, {**_CHUNK, "choices": [{"index": 0, "delta": 5}]}),
    "oddcontent": (1, {**_CHUNK, "choices": [{"index": 0, "delta": _ODD_DELTA}]}),
}
_ODD_COMPLETION = {"id": "odd", "object": "chat.completion", "created": 0, "model": "odd", "choices": ["not an object"]}


def odd_shape(reply: Reply, mode: str) -> Reply:
    """``reply`` with the mode's wrongly shaped chunk put in; a plain reply becomes ``_ODD_COMPLETION``."""
    position, chunk = _ODD_CHUNKS[mode]
    if reply.is_stream:
        return replace(reply, status=200, events=(*reply.events[:position], sse_data(chunk), *reply.events[position:]))
    return replace(reply, status=200, body=orjson.dumps(_ODD_COMPLETION))
