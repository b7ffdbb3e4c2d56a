"""A client that goes away cancels the upstream request."""

from tests.helpers import open_chat_request, wait_until


def _upstream_connections(fake) -> int:
    return fake.open_connections("alpha")


def test_disconnect_cancels_a_waiting_upstream_request(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_fault("alpha", "hang")
    sock = open_chat_request(
        gateway.server.port, {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]}
    )
    assert wait_until(lambda: _upstream_connections(gateway.fake) == 1), "the upstream never saw the request"
    sock.close()
    assert wait_until(lambda: _upstream_connections(gateway.fake) == 0), "the upstream request was not cancelled"


def test_disconnect_mid_stream_cancels_the_upstream_stream(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", chunks=50, chunk_delay=0.2)
    sock = open_chat_request(
        gateway.server.port,
        {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g"}]},
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert _upstream_connections(gateway.fake) == 1
    sock.close()
    assert wait_until(lambda: _upstream_connections(gateway.fake) == 0), "the upstream stream was not cancelled"
