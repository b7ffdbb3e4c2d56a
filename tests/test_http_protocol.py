"""`g4fsite.http_protocol`: uvicorn's httptools protocol whose writes of one turn of the event loop
leave in one write. Real uvicorn servers on 127.0.0.1 and real clients; a spy between the protocol
and the socket's transport counts the writes that reach the socket."""

import asyncio
import socket
import threading
import time

import pytest
import requests
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from g4fsite.http_protocol import HTTP_PROTOCOL, GatewayHttpProtocol

RELEASE_LAST_CHUNK = threading.Event()


class WriteSpy:
    """The socket's transport, with every `write` recorded (`writes`) and every `close`."""

    def __init__(self, transport: asyncio.Transport, writes: list) -> None:
        self.transport = transport
        self.writes = writes

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def close(self) -> None:
        self.writes.append("close")
        self.transport.close()

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


def spying(protocol_class: type, writes: list) -> type:
    class Spied(protocol_class):
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(WriteSpy(transport, writes))

    return Spied


async def small_app(scope, receive, send) -> None:
    """`/json`: an answer sent as the gateway sends one (start, then the whole body); `/stream`: two
    events, the second only once the test sets RELEASE_LAST_CHUNK."""
    if scope["type"] != "http":
        return
    await receive()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["path"] == "/stream":
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        while not RELEASE_LAST_CHUNK.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"data: 2\n\n"})
        return
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


class Served:
    """`app` served by uvicorn with `http` in a thread of the test process, on 127.0.0.1."""

    def __init__(self, app, http) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, http=http, lifespan="off", log_config=None, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def serve():
    started = []

    def start(app, protocol_class) -> tuple[Served, list]:
        writes: list = []
        started.append(Served(app, spying(protocol_class, writes)))
        return started[-1], writes

    yield start
    for served in started:
        served.stop()


def test_an_answer_leaves_in_one_write_where_uvicorns_protocol_makes_two(serve):
    ours, our_writes = serve(small_app, GatewayHttpProtocol)
    theirs, their_writes = serve(small_app, HttpToolsProtocol)
    for served in (ours, theirs):
        answer = requests.get(f"{served.url}/json", timeout=10)
        assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert len(our_writes) == 1, our_writes
    assert our_writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and our_writes[0].endswith(b'{"ok": true}\r\n0\r\n\r\n')
    assert len(their_writes) == 2  # the head, then the body: what this protocol saves


def test_keep_alive_requests_each_leave_in_one_write(serve):
    served, writes = serve(small_app, GatewayHttpProtocol)
    with requests.Session() as session:
        for _ in range(3):
            assert session.get(f"{served.url}/json", timeout=10).json() == {"ok": True}
    answers = [write for write in writes if write != "close"]  # the client's close may be seen already
    assert len(answers) == 3 and all(answer.startswith(b"HTTP/1.1 200 OK") for answer in answers)


def test_connection_close_sends_the_answer_before_closing(serve):
    served, writes = serve(small_app, GatewayHttpProtocol)
    answer = requests.get(f"{served.url}/json", headers={"Connection": "close"}, timeout=10)
    assert answer.json() == {"ok": True}
    deadline = time.monotonic() + 5
    while "close" not in writes and time.monotonic() < deadline:
        time.sleep(0.01)
    # The answer, then the close (connection_lost may close once more when it sees the client go).
    assert len(writes) >= 2 and set(writes[1:]) == {"close"}, writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK") and b"connection: close" in writes[0]


def test_a_stream_event_leaves_in_its_own_turn(serve):
    """A streamed event is not held back for the next one: the first is read while the app still
    waits to send the second."""
    RELEASE_LAST_CHUNK.clear()
    served, writes = serve(small_app, GatewayHttpProtocol)
    with requests.get(f"{served.url}/stream", stream=True, timeout=10) as answer:
        lines = answer.iter_lines()
        assert next(lines) == b"data: 1"
        assert writes == [writes[0]] and writes[0].startswith(b"HTTP/1.1 200 OK")  # the head and event 1
        RELEASE_LAST_CHUNK.set()
        assert [line for line in lines if line] == [b"data: 2"]
    assert len([write for write in writes if write != "close"]) == 2


def test_a_client_gone_before_the_write_is_not_written_to(serve):
    """The client closes at once: the answer of that turn is dropped, nothing fails."""
    RELEASE_LAST_CHUNK.set()
    served, writes = serve(small_app, GatewayHttpProtocol)
    host, port = served.url.removeprefix("http://").split(":")
    for _ in range(5):
        with socket.create_connection((host, int(port)), timeout=5) as client:
            client.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert requests.get(f"{served.url}/json", timeout=10).json() == {"ok": True}  # still serving


def test_the_gateway_is_served_with_this_protocol():
    from uvicorn import Config

    config = Config("g4fsite.asgi:application", http=HTTP_PROTOCOL)
    config.load()
    assert config.http_protocol_class is GatewayHttpProtocol
