"""Helpers shared by several test modules: ports, polling, SSE bodies, catalogue entries, servers."""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from catalogue.snapshot import ProviderEntry

ROOT = Path(__file__).resolve().parents[1]
DAPHNE = str(Path(sys.executable).with_name("daphne"))


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


def add_local_speech(*models: str, priority: int = 0) -> None:
    """The built-in espeak-ng provider "LocalSpeech" in the catalogue, serving each of `models` for speech."""
    from catalogue import services  # the catalogue's models need Django set up

    entries = [{"name": model, "upstream": "espeak-ng", "capabilities": ["speech"]} for model in models]
    provider = {"name": "LocalSpeech", "adapter": "espeak", "base_url": "http://localhost/espeak", "priority": priority}
    services.catalogue_import(data={"providers": [{**provider, "models": entries}]})


def admin_login(url: str, username: str, password: str) -> requests.Session:
    """A `requests` session logged in to the admin of the gateway at `url` (through its login form)."""
    session = requests.Session()
    session.get(f"{url}/admin/login/", timeout=10)
    response = session.post(
        f"{url}/admin/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"referer": f"{url}/admin/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and "Log out" in response.text
    return session
