"""Open streams against a server, stop it with SIGTERM, and watch what it does meanwhile.

Shared by the graceful-stop tests of `g4f api` (tests/cli) and gunicorn (tests/test_gunicorn.py).
"""

import json
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import requests

STREAM_CHUNKS = 16
CHUNK_DELAY = 0.25  # a stream lasts about 4 s


@dataclass
class OpenStream:
    """One streamed chat completion read in its own thread."""

    url: str
    model: str
    started: threading.Event = field(default_factory=threading.Event)
    events: list = field(default_factory=list)
    error: Exception | None = None
    thread: threading.Thread | None = None

    def start(self) -> "OpenStream":
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        body = {"model": self.model, "stream": True, "messages": [{"role": "user", "content": "drain"}]}
        try:
            with requests.post(f"{self.url}/v1/chat/completions", json=body, stream=True, timeout=60) as answer:
                assert answer.status_code == 200, answer.text
                for line in answer.iter_lines():
                    if line.startswith(b"data: "):
                        self.events.append("[DONE]" if line[6:] == b"[DONE]" else json.loads(line[6:]))
                        self.started.set()
        except (AssertionError, OSError, ValueError) as exc:  # reported by the test
            self.error = exc
        finally:
            self.started.set()

    @property
    def text(self) -> str:
        return "".join(
            choice["delta"].get("content") or ""
            for event in self.events
            if isinstance(event, dict)
            for choice in event.get("choices", [])
        )


def open_streams(url: str, model: str, count: int, timeout: float = 60) -> list[OpenStream]:
    """`count` streams, returned once each has received its first event."""
    streams = [OpenStream(url, model).start() for _ in range(count)]
    deadline = time.monotonic() + timeout
    for stream in streams:
        assert stream.started.wait(max(0.0, deadline - time.monotonic())), "a stream did not start"
        assert stream.error is None, stream.error
    return streams


def refused_after_stop(port: int, timeout: float = 5.0) -> float:
    """Seconds until a new connection to 127.0.0.1:`port` is turned away (refused or reset); fails
    if an attempt hangs (no answer within 2 s) or none is turned away within `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if not sock.recv(64):
                    return time.monotonic() - start  # closed unanswered: turned away
        except (ConnectionRefusedError, ConnectionResetError):
            return time.monotonic() - start
        except TimeoutError:
            raise AssertionError("a new connection hung while the server drained") from None
        time.sleep(0.05)
    raise AssertionError(f"new connections were still accepted {timeout} s after SIGTERM")


def stop_while_streaming(process: subprocess.Popen, port: int, streams: list[OpenStream]) -> float:
    """SIGTERM `process`; returns how long a new connection took to be turned away, after checking
    that the streams were still running then."""
    process.send_signal(signal.SIGTERM)
    refused_in = refused_after_stop(port)
    assert any(stream.thread.is_alive() for stream in streams), "the streams ended before the check"
    return refused_in


def assert_streams_complete(streams: list[OpenStream], expected_text: str, timeout: float = 60) -> None:
    """Every stream ended with [DONE] and carried the whole answer."""
    deadline = time.monotonic() + timeout
    for stream in streams:
        stream.thread.join(max(0.0, deadline - time.monotonic()))
        assert not stream.thread.is_alive(), "a stream did not end"
        assert stream.error is None, repr(stream.error)
        assert stream.events and stream.events[-1] == "[DONE]", stream.events[-3:]
        assert stream.text == expected_text
