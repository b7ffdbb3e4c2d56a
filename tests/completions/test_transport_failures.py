"""Both production transports' failures against real servers on 127.0.0.1: errors become httpx2's
(the `UpstreamTransport` contract), a cancelled read closes the upstream connection, a finished one
returns it to the pool.
"""

import asyncio
import time

import aiohttp
import httpx2
import pytest
from aiohttp import web

from completions.upstream.aiohttp_transport import AiohttpTransport
from completions.upstream.transport import UpstreamTransport
from tests.completions.loopback import TIMEOUT, RawServer, chunk, errors_of, read_request, run, web_server
from tests.helpers import free_port

# --- error translation ---------------------------------------------------------------------------


def test_a_header_that_cannot_be_sent_is_an_httpx2_error_not_a_crash(transport_class):
    """A provider header with a line break (an operator's typo) becomes a transport error the
    adapters translate, rather than an exception that would surface as a 500; nothing is sent."""
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"ok": True})

    async def scenario():
        transport = transport_class(max_connections=4)
        async with web_server(handler) as base:
            try:
                await transport.fetch(
                    "GET", base + "/v1/models", headers={"x-team": "a\r\nInjected: 1"}, timeout=TIMEOUT
                )
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                return exc
            finally:
                await transport.aclose()

    exc = run(scenario())
    assert isinstance(exc, httpx2.TransportError), repr(exc)
    if transport_class is AiohttpTransport:
        assert isinstance(exc.__cause__, ValueError), repr(exc)
    assert seen == []


def test_connection_refused_is_connect_error(transport_class):
    url = f"http://127.0.0.1:{free_port()}/v1/models"

    async def scenario():
        async with transport_class(max_connections=4) as transport:
            return await errors_of(
                {
                    "fetch": lambda: transport.fetch("GET", url, headers={}, timeout=TIMEOUT),
                    "stream lines": lambda: _open_stream(transport, url),
                    "stream bytes": lambda: _stream_bytes(transport, url),
                }
            )

    errors = run(scenario())
    assert set(errors) == {"fetch", "stream lines", "stream bytes"}
    for name, exc in errors.items():
        assert type(exc) is httpx2.ConnectError, (name, exc)
        if transport_class is AiohttpTransport:
            assert isinstance(exc.__cause__, aiohttp.ClientConnectorError), name


async def _open_stream(transport: UpstreamTransport, url: str) -> list[str]:
    async with transport.stream("GET", url, headers={}, timeout=TIMEOUT) as response:
        return [line async for line in response.aiter_lines()]


async def _stream_bytes(transport: UpstreamTransport, url: str, timeout=TIMEOUT) -> bytes:
    async with transport.stream("GET", url, headers={}, timeout=timeout) as response:
        assert response.status_code == 200
        return b"".join([piece async for piece in response.aiter_bytes()])


def test_silent_server_is_read_timeout(transport_class):
    """No answer at all, or headers and then silence: `read` bounds each wait."""
    timeout = httpx2.Timeout(5, read=0.3)

    async def handle(reader, writer):
        request_line, _, _ = await read_request(reader)
        if "/headers-only" in request_line:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(chunk(b"data: one\n\n"))
            await writer.drain()
        while await reader.read(65536):  # until the client gives up
            pass

    async def scenario():
        async with RawServer(handle) as server:
            transport = transport_class(max_connections=4)
            results = {}

            async def attempt(name, action):
                started = time.monotonic()
                with pytest.raises(httpx2.ReadTimeout) as excinfo:
                    await action()
                results[name] = (time.monotonic() - started, excinfo.value)

            async def direct_stream_body():
                async with transport.stream("GET", server.url + "/headers-only", headers={}, timeout=timeout) as r:
                    assert r.status_code == 200
                    async for _ in r.aiter_lines():
                        pass

            try:
                await attempt("fetch", lambda: transport.fetch("GET", server.url + "/", headers={}, timeout=timeout))
                await attempt("stream lines", direct_stream_body)
                await attempt("stream bytes", lambda: _stream_bytes(transport, server.url + "/headers-only", timeout))
            finally:
                await transport.aclose()
            return results

    results = run(scenario())
    assert set(results) == {"fetch", "stream lines", "stream bytes"}
    for name, (elapsed, exc) in results.items():
        assert 0.25 <= elapsed < 3, (name, elapsed)
        assert not isinstance(exc, httpx2.ConnectTimeout), name


def test_truncated_body_is_remote_protocol_error(transport_class):
    """`Content-Length: 1000`, then 10 bytes and a closed connection; or a close before any answer."""

    async def handle(reader, writer):
        request_line, _, _ = await read_request(reader)
        if "/hang-up" not in request_line:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n0123456789")
            await writer.drain()

    async def scenario():
        async with RawServer(handle) as server:
            url = server.url + "/v1/chat"
            transport = transport_class(max_connections=4)

            async def direct_stream_aread():
                async with transport.stream("GET", url, headers={}, timeout=TIMEOUT) as response:
                    assert response.status_code == 200
                    await response.aread()

            attempts = {
                "fetch": lambda: transport.fetch("GET", url, headers={}, timeout=TIMEOUT),
                "direct stream aread": direct_stream_aread,
                "direct stream lines": lambda: _open_stream(transport, url),
                "direct stream bytes": lambda: _stream_bytes(transport, url),
                "fetch, no answer": lambda: transport.fetch(
                    "GET", server.url + "/hang-up", headers={}, timeout=TIMEOUT
                ),
            }
            try:
                return await errors_of(attempts)
            finally:
                await transport.aclose()

    errors = run(scenario())
    assert set(errors) == {
        "fetch",
        "direct stream aread",
        "direct stream lines",
        "direct stream bytes",
        "fetch, no answer",
    }
    for name, exc in errors.items():
        assert type(exc) is httpx2.RemoteProtocolError, (name, repr(exc))
    if transport_class is AiohttpTransport:
        assert isinstance(errors["fetch"].__cause__, aiohttp.ClientPayloadError)
        assert isinstance(errors["fetch, no answer"].__cause__, aiohttp.ServerDisconnectedError)


# --- cancellation and the pool -------------------------------------------------------------------


def cancellable_stream_server():
    """`/stream` sends one event and then nothing, waiting for the client to close; `/ok` answers."""
    server: RawServer

    async def handle(reader, writer):
        request_line, _, _ = await read_request(reader)
        if "/ok" in request_line:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(chunk(b"data: first\n\n"))
        await writer.drain()
        await server.wait_for_eof(reader)

    server = RawServer(handle)
    return server


@pytest.mark.parametrize("read", ["lines", "bytes"])
def test_cancelled_stream_closes_the_upstream_connection(read, transport_class):
    async def scenario():
        async with cancellable_stream_server() as server:
            transport = transport_class(max_connections=4)
            first_line = asyncio.Event()
            lines: list[str] = []

            async def consume():
                stream = transport.stream("POST", server.url + "/stream", headers={}, content=b"{}", timeout=TIMEOUT)
                async with stream as response:
                    if read == "lines":
                        async for line in response.aiter_lines():
                            lines.append(line)
                            first_line.set()
                    else:
                        async for piece in response.aiter_bytes():
                            lines.extend(piece.decode().split("\n"))
                            first_line.set()

            try:
                task = asyncio.create_task(consume())
                await asyncio.wait_for(first_line.wait(), 2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert not server.eof.is_set()  # the event is from the cancellation, not earlier
                await asyncio.wait_for(server.eof.wait(), 1.0)  # closed, not parked in the pool
                ok = await transport.fetch("GET", server.url + "/ok", headers={}, timeout=TIMEOUT)
            finally:
                await transport.aclose()
            return lines, ok, server.connections

    lines, ok, connections = run(scenario())
    assert lines == (["data: first", ""] if read == "lines" else ["data: first", "", ""])
    assert (ok.status_code, ok.content) == (200, b"ok")
    assert connections == 2


def test_fully_read_answers_reuse_the_connection(transport_class):
    """The counterpart of the cancellation test: a finished answer leaves its connection in the pool."""
    peers: list = []

    async def handler(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername"))
        if request.path == "/sse":
            return web.Response(body=b"data: a\n\n", headers={"Content-Type": "text/event-stream"})
        return web.json_response({"ok": True})

    async def scenario():
        async with web_server(handler) as url:
            transport = transport_class(max_connections=4)
            try:
                await transport.fetch("GET", url + "/a", headers={}, timeout=TIMEOUT)
                async with transport.stream("POST", url + "/sse", headers={}, content=b"{}", timeout=TIMEOUT) as r:
                    assert [line async for line in r.aiter_lines()] == ["data: a", ""]
                assert await _stream_bytes(transport, url + "/b") == b'{"ok": true}'
                await transport.fetch("GET", url + "/c", headers={}, timeout=TIMEOUT)
            finally:
                await transport.aclose()

    run(scenario())
    assert len(peers) == 4
    assert len(set(peers)) == 1, peers
