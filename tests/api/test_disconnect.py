"""A client that goes away cancels the upstream request."""

import socket
import time

import orjson


def _open_request(gateway, body: dict) -> socket.socket:
    payload = orjson.dumps(body)
    sock = socket.create_connection(("127.0.0.1", gateway.server.port), timeout=5)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _upstream_connections(fake) -> int:
    return fake.open_connections("alpha")


def test_disconnect_cancels_a_waiting_upstream_request(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_fault("alpha", "hang")
    sock = _open_request(gateway, {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]})
    assert _wait_for(lambda: _upstream_connections(gateway.fake) == 1), "the upstream never saw the request"
    sock.close()
    assert _wait_for(lambda: _upstream_connections(gateway.fake) == 0), "the upstream request was not cancelled"


def test_disconnect_mid_stream_cancels_the_upstream_stream(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", chunks=50, chunk_delay=0.2)
    sock = _open_request(
        gateway, {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g"}]}
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert _upstream_connections(gateway.fake) == 1
    sock.close()
    assert _wait_for(lambda: _upstream_connections(gateway.fake) == 0), "the upstream stream was not cancelled"
