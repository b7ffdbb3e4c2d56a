"""What the fake upstream knows between requests: faults, options, the request log, requests in flight.

The test thread changes faults and options; the server thread records requests and takes faults. Both
only swap whole values under one lock, so no request sees a half-made change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .faults import Fault

DEFAULT_OPTIONS = MappingProxyType(
    {
        "chunks": 5,  # pieces a streamed answer is split into
        "delay": 0.0,  # seconds to wait before answering
        "chunk_delay": 0.0,  # seconds to wait between streamed events
        "content": None,  # fixed answer text instead of the echo
        "models": ("fake-model", "fake-vision", "fake-image"),  # GET models
        "usage": True,  # False: answers carry no usage (the gateway must estimate it)
        "image_url": None,  # the URL image answers point to (None: this server's /files/image.png)
        # OpenAI side, like some OpenAI-compatible servers: False omits message.refusal; True sends the
        # last text piece in the finishing chunk; False refuses a body with stream_options (as Mistral does).
        "refusal": True,
        "finish_with_text": False,
        "stream_options": True,
        # Anthropic side: True answers with a server tool's blocks (server_tool_use, web_search_tool_result)
        # before the text. Gemini side: a finishReason to report instead of the real one.
        "server_tool_blocks": False,
        "finish_reason": None,
        "reasoning": None,  # OpenAI protocol: chat answers carry this `reasoning_content` (DeepSeek's field)
    }
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as received. ``provider`` is None for paths outside ``/{provider}/...``."""

    provider: str | None
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes
    query: dict[str, str]
    form: dict[str, Any] | None = None


class UpstreamState:
    """Faults, options, recorded requests and in-flight counts of a fake upstream, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._options: dict[str, dict[str, Any]] = {}
        self._requests: list[RecordedRequest] = []
        self._in_flight: dict[str, int] = {}

    # --- behaviour -----------------------------------------------------------------------------

    def set_fault(self, provider: str, mode: str | None, **options: Any) -> None:
        """Fail every request to ``provider`` in ``mode`` (None clears). Options: retry_after, delay, times, message."""
        with self._lock:
            if mode is None:
                self._faults.pop(provider, None)
            else:
                self._faults[provider] = Fault(mode, **options)

    def set_option(self, provider: str, **options: Any) -> None:
        """Change ``provider``'s normal-behaviour knobs; the names are those of :data:`DEFAULT_OPTIONS`."""
        unknown = set(options) - set(DEFAULT_OPTIONS)
        if unknown:
            raise TypeError(f"unknown fake upstream options {sorted(unknown)}; known: {sorted(DEFAULT_OPTIONS)}")
        with self._lock:
            self._options[provider] = {**self.options_for(provider), **options}

    def options_for(self, provider: str) -> dict[str, Any]:
        return self._options.get(provider) or dict(DEFAULT_OPTIONS)

    def reset(self) -> None:
        """Clear faults, options and recorded requests."""
        with self._lock:
            self._faults.clear()
            self._options.clear()
            self._requests.clear()

    # --- recording -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, provider: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.provider == provider]

    def open_connections(self, provider: str) -> int:
        """Requests to ``provider`` the server is still handling (a cancelled upstream call drops out)."""
        with self._lock:
            return self._in_flight.get(provider, 0)

    # --- used by the app, on the server thread -------------------------------------------------

    def track(self, provider: str, delta: int) -> None:
        """Count a request to ``provider`` in (+1) or out (-1) of flight."""
        with self._lock:
            self._in_flight[provider] = self._in_flight.get(provider, 0) + delta

    def record(self, recorded: RecordedRequest) -> None:
        """Add one received request to the log."""
        with self._lock:
            self._requests.append(recorded)

    def take_fault(self, provider: str) -> Fault | None:
        """The fault set for ``provider``, if any, counting one use of it."""
        with self._lock:
            fault = self._faults.get(provider)
            if fault is not None:
                remaining = fault.consumed()
                if remaining is None:
                    del self._faults[provider]
                else:
                    self._faults[provider] = remaining
            return fault
