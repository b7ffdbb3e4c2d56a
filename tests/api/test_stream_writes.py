"""How a relayed stream is written: the pieces made from what the upstream sent together go to the
client in one write (one HTTP chunk), and nothing is held back while the upstream is still sending."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.helpers import open_chat_request


def _event(index: int, finish: bool = False) -> bytes:
    chunk = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "delta": {} if finish else {"content": f"w{index} "},
                "finish_reason": "stop" if finish else None,
            }
        ],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


@contextmanager
def raw_upstream(events: int, gap: float) -> Iterator[int]:
    """An upstream on 127.0.0.1 answering every request with `events` text events and a finish, all in one
    write (`gap` 0) or `gap` seconds apart; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
            parts = [_event(i) for i in range(events)] + [_event(events, finish=True) + b"data: [DONE]\n\n"]
            if gap == 0:
                conn.sendall(b"".join(parts))
                return
            for part in parts:
                conn.sendall(part)
                time.sleep(gap)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _http_chunks(port: int) -> list[tuple[float, bytes]]:
    """The streamed answer's HTTP chunks (chunked transfer encoding), each with when it was complete."""
    sock = open_chat_request(
        port, {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    )
    buffer, chunks, started = b"", [], time.monotonic()
    try:
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(65536)
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower(), head
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if b"\r\n" in buffer:
                size_line, _, rest = buffer.partition(b"\r\n")
                size = int(size_line, 16)
                if len(rest) >= size + 2:
                    if size == 0:
                        return chunks
                    chunks.append((time.monotonic() - started, rest[:size]))
                    buffer = rest[size + 2 :]
                    continue
            data = sock.recv(65536)
            assert data, "the gateway closed the connection mid-stream"
            buffer += data
        raise AssertionError("the stream did not end")
    finally:
        sock.close()


def test_events_that_arrive_together_are_written_together(gateway):
    with raw_upstream(events=20, gap=0) as port:
        gateway.add_provider("burst", base_url=f"http://127.0.0.1:{port}/v1")
        chunks = _http_chunks(gateway.server.port)
    body = b"".join(data for _, data in chunks)
    assert body.count(b"data: ") == 22 and body.endswith(b"data: [DONE]\n\n")  # 20 texts, the finish, [DONE]
    assert len(chunks) <= 3, [data[:60] for _, data in chunks]  # the first piece, then the rest together


def test_events_that_arrive_apart_are_written_as_they_come(gateway):
    with raw_upstream(events=6, gap=0.15) as port:
        gateway.add_provider("spaced", base_url=f"http://127.0.0.1:{port}/v1")
        chunks = _http_chunks(gateway.server.port)
    texts = [(at, data) for at, data in chunks if b'"content"' in data]
    assert sum(data.count(b'"content"') for _, data in texts) == 6
    # A write per event as it comes (two only if the gateway was ever 0.15 s late to read): none
    # waited for the events after it.
    assert len(texts) >= 5, [data[:60] for _, data in chunks]
    assert texts[-1][0] - texts[0][0] >= 0.5
