"""Fault modes of the fake upstream, how a request selects one, and the reply rewrites they need.

A fault is chosen, first match wins, by:
1. the request header ``x-fake-fault: <mode>``, optionally with options: ``slow; delay=0.2``;
2. the upstream model name containing ``fault-<mode>`` (``gpt-fault-500``, ``m-fault-cut``);
3. the provider's fault set by ``FakeUpstream.set_fault(provider, mode, **options)``.

The server carries the modes out: timing modes (slow, timeout, hang) and ``cut`` itself, status modes
and ``empty`` by asking the protocol module, ``malformed`` and ``bomb`` by rewriting the normal reply here, the same
for every protocol.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, replace

from .shapes import SHAPE_MODES
from .wire import Reply

STATUS_MODES = frozenset({"400", "401", "403", "404", "429", "500", "502", "503"})
TIMING_MODES = frozenset({"slow", "timeout", "hang"})
BODY_MODES = frozenset({"cut", "malformed", "empty", "bomb"})
FAULT_MODES = STATUS_MODES | TIMING_MODES | BODY_MODES | SHAPE_MODES  # shapes.py: JSON of the wrong shape

DEFAULT_DELAY = {"slow": 2.0, "timeout": 30.0}
DEFAULT_RETRY_AFTER = 1

_MODEL_MARKER = re.compile(r"fault-([a-z0-9]+)")
_MALFORMED_BODY = b'{"id": "broken", "choices": [ this is not json'
_MALFORMED_EVENT = b"data: {not json\n\n"
BOMB_BYTES = 16 * 1024 * 1024  # what a ``bomb`` reply inflates to (from about 16 KB on the wire)
BOMB_LINE_BYTES = 32 * 1024


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault mode with its options. ``times`` (provider faults only) counts down to auto-clear;
    ``message`` replaces a status mode's error message (an upstream echoing what it was sent)."""

    mode: str
    retry_after: int = DEFAULT_RETRY_AFTER
    delay: float | None = None
    times: int | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; choose one of {sorted(FAULT_MODES)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be a positive count, or None for every request")

    @property
    def wait_seconds(self) -> float:
        """How long ``slow`` / ``timeout`` wait before answering."""
        return self.delay if self.delay is not None else DEFAULT_DELAY.get(self.mode, 0.0)

    def consumed(self) -> Fault | None:
        """The fault left after one request used it: itself, one fewer, or None when used up."""
        if self.times is None:
            return self
        return replace(self, times=self.times - 1) if self.times > 1 else None


def fault_from_header(value: str | None) -> Fault | None:
    """Parse ``x-fake-fault: <mode>[; retry_after=N][; delay=S]``; an unknown mode is ignored."""
    if not value:
        return None
    mode, *params = (item.strip() for item in value.split(";"))
    if mode not in FAULT_MODES:
        return None
    options: dict[str, float | int] = {}
    for param in params:
        key, _, raw = param.partition("=")
        if key.strip() == "delay":
            options["delay"] = float(raw)
        elif key.strip() == "retry_after":
            options["retry_after"] = int(raw)
    return Fault(mode, **options)


def fault_from_model(model: str | None) -> Fault | None:
    """``gpt-fault-500`` selects mode ``500``; a marker naming no mode is ignored."""
    if not model:
        return None
    match = _MODEL_MARKER.search(model)
    if match is None or match.group(1) not in FAULT_MODES:
        return None
    return Fault(match.group(1))


def malformed(reply: Reply) -> Reply:
    """A stream: its first event, then ``data: {not json``. Otherwise a 200 body that is not JSON."""
    if reply.is_stream:
        return replace(reply, status=200, events=(*reply.events[:1], _MALFORMED_EVENT))
    return replace(reply, status=200, body=_MALFORMED_BODY)


def bomb(reply: Reply) -> Reply:
    """The normal reply gzip-encoded and inflating past ``BOMB_BYTES``: a body followed by that much
    JSON whitespace (still valid JSON), or a stream whose first event is followed by SSE comment lines
    of ``BOMB_LINE_BYTES`` each (ignored by a parser, so still a valid stream)."""
    gzip = zlib.compressobj(9, zlib.DEFLATED, 31)
    if reply.is_stream:
        head, rest = reply.events[:1], reply.events[1:]
        padding = b":" + b" " * (BOMB_LINE_BYTES - 2) + b"\n"
    else:
        head, rest = (reply.body,), ()
        padding = b" " * BOMB_LINE_BYTES
    pieces = [gzip.compress(part) for part in head]
    pieces += [gzip.compress(padding) for _ in range(BOMB_BYTES // BOMB_LINE_BYTES)]
    pieces += [gzip.compress(part) for part in rest]
    compressed = b"".join(pieces) + gzip.flush()
    headers = (*reply.headers, (b"content-encoding", b"gzip"))
    if not reply.is_stream:
        return replace(reply, headers=headers, body=compressed)
    chunks = tuple(compressed[i : i + 4096] for i in range(0, len(compressed), 4096))
    return replace(reply, headers=headers, events=chunks)
