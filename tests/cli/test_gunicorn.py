"""The production command shape: gunicorn with two uvicorn workers (`g4fsite/gunicorn_conf.py`)
serves chat, and SIGTERM with open streams finishes them, refuses new connections at once, writes
every usage row and exits 0."""

import pytest

from tests.cli.drain import CHUNK_DELAY, STREAM_CHUNKS, assert_streams_complete, open_streams, stop_while_streaming
from tests.cli.servers import VENV_BIN
from tests.cli.test_graceful_stop import usage_rows

pytestmark = pytest.mark.slow

GUNICORN = [str(VENV_BIN / "gunicorn"), "g4fsite.asgi:application", "-c", "python:g4fsite.gunicorn_conf", "-w", "2"]
STREAMS = 20


def test_gunicorn_with_uvicorn_workers_serves_and_stops_cleanly(start_server, fake):
    server = start_server(
        GUNICORN,
        providers={"Alpha": ["fake-model"]},
        env={"G4F_USAGE_FLUSH_INTERVAL": "60"},  # only the flush at shutdown can write the rows in time
        port_args=lambda port: ["-b", f"127.0.0.1:{port}"],
    )
    answer = server.post(
        "/v1/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Hello from Alpha: hi"
    assert server.writes_per_answer() < 1.25  # the workers serve with g4fsite.http_protocol

    fake.set_option("Alpha", chunks=STREAM_CHUNKS, chunk_delay=CHUNK_DELAY)
    streams = open_streams(server.url, "fake-model", STREAMS)
    refused_in = stop_while_streaming(server.process, server.port, streams)
    assert refused_in < 2.0, f"new connections were accepted for {refused_in:.1f} s after SIGTERM"

    assert_streams_complete(streams, "Hello from Alpha: drain")
    assert server.process.wait(60) == 0, server.log()
    assert usage_rows(server.data_dir) == STREAMS + 1, server.log()


def test_gunicorn_refuses_a_network_bind_without_a_key(start_server):
    with pytest.raises(RuntimeError, match="Refusing to serve on 0.0.0.0 without an API key"):
        start_server(GUNICORN, providers={"Alpha": ["fake-model"]}, port_args=lambda port: ["-b", f"0.0.0.0:{port}"])
