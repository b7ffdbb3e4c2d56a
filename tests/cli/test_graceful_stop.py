"""SIGTERM stops `g4f api` cleanly: new connections are refused at once, the open streams finish,
their usage rows are written, and the process exits 0; with one process and with `--workers 2`."""

import signal
import time

import pytest

from tests.cli.drain import (
    CHUNK_DELAY,
    STREAM_CHUNKS,
    assert_streams_complete,
    open_streams,
    stop_while_streaming,
)
from tests.cli.servers import G4F, manage

pytestmark = pytest.mark.slow

STREAMS = 20


def usage_rows(data_dir, condition: str = "") -> int:
    """Usage rows in the server's database (those matching a `filter()` condition, if given)."""
    query = f"from catalogue.models import UsageRecord as U; print(U.objects.filter({condition}).count())"
    return int(manage(data_dir, "shell", "-c", query).strip().splitlines()[-1])


@pytest.mark.parametrize("workers", [None, 2], ids=["one-process", "two-workers"])
def test_sigterm_finishes_open_streams_refuses_new_ones_and_writes_usage(start_server, fake, workers):
    command = [G4F, "api", *(["--workers", str(workers)] if workers else [])]
    # A long flush interval: only the flush at shutdown can write the rows in time.
    server = start_server(command, providers={"Alpha": ["fake-model"]}, env={"G4F_USAGE_FLUSH_INTERVAL": "60"})
    fake.set_option("Alpha", chunks=STREAM_CHUNKS, chunk_delay=CHUNK_DELAY)

    streams = open_streams(server.url, "fake-model", STREAMS)
    refused_in = stop_while_streaming(server.process, server.port, streams)
    assert refused_in < 2.0, f"new connections were accepted for {refused_in:.1f} s after SIGTERM"

    assert_streams_complete(streams, "Hello from Alpha: drain")
    assert server.process.wait(60) == 0, server.log()
    assert usage_rows(server.data_dir) == STREAMS, server.log()


def test_graceful_timeout_flag_bounds_the_drain(start_server, fake):
    server = start_server([G4F, "api", "--graceful-timeout", "1"], providers={"Alpha": ["fake-model"]})
    fake.set_option("Alpha", chunks=60, chunk_delay=0.5)  # a 30 s stream
    streams = open_streams(server.url, "fake-model", 1)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(30) == 0, server.log()
    assert time.monotonic() - started < 15
    streams[0].thread.join(10)
    assert "[DONE]" not in streams[0].events  # cut at the end of the grace period
    assert "timeout graceful shutdown exceeded" in server.log()
    assert usage_rows(server.data_dir, "status_code=503") == 1, server.log()  # the cut request is counted too
