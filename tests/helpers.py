"""Helpers shared by several test modules: ports, polling, SSE bodies, catalogue entries, servers."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from catalogue.snapshot import ProviderEntry

ROOT = Path(__file__).resolve().parents[1]
DAPHNE = str(Path(sys.executable).with_name("daphne"))
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `condition` until it is true or `timeout` seconds pass; its last answer, as a bool."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def sse_events(response) -> list:
    """The `data:` payloads of a streamed `requests` response: decoded JSON, or the string "[DONE]"."""
    return [
        "[DONE]" if line[6:] == b"[DONE]" else json.loads(line[6:])
        for line in response.iter_lines()
        if line.startswith(b"data: ")
    ]


def open_chat_request(port: int, body: dict) -> socket.socket:
    """POST `body` to /v1/chat/completions on a raw socket, so a test can drop the connection mid-answer."""
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def provider_entry(name: str = "p", **fields: Any) -> ProviderEntry:
    """A working OpenAI-protocol catalogue entry with no key; `fields` override any attribute."""
    defaults: dict[str, Any] = {
        "id": 1,
        "adapter": "openai",
        "base_url": "http://127.0.0.1:1/v1",
        "api_key": "",
        "status": "working",
        "needs_auth": False,
        "priority": 0,
        "timeout": 5.0,
        "url": "",
        "description": "",
        "supports_stream": True,
    }
    return ProviderEntry(name=name, **{**defaults, **fields})


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate a child process and wait for it; kill it if it has not stopped within `timeout` s."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def daphne_server(env: dict[str, str], timeout: float = 60.0) -> Iterator[str]:
    """daphne serving the gateway in a child process on a free port; yields its base URL once it
    accepts connections, and stops the process (killed if it will not stop) on the way out."""
    port = free_port()
    process = subprocess.Popen(
        [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "g4fsite.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while not port_open(port):
            assert time.monotonic() < deadline and process.poll() is None, "the server did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


class RedisServer:
    """A real redis-server on 127.0.0.1 (no persistence) for one test: `start()` (again on the same
    port after `stop()`), `stop()`, `pause()` / `resume()` (SIGSTOP / SIGCONT: a hung server)."""

    def __init__(self, port: int | None = None) -> None:
        assert REDIS_SERVER is not None, "redis-server is not installed (scripts/test installs it)"
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(lambda: port_open(self.port), timeout=10):
            self.stop()
            raise RuntimeError("redis-server did not start")
        return self

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.paused and self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.process is not None:
            self.resume()  # a stopped process would not handle SIGTERM
            stop_process(self.process)
            self.process = None
