"""`AiohttpTransport` against real HTTP servers on 127.0.0.1: cookies, bodies, decoding, SSE lines,
error translation, cancellation and proxies.

Every server is started and stopped by its test, on the test's own event loop (`asyncio.run`).
"""

import asyncio
import contextlib
import gzip
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace

import aiohttp
import httpx2
import orjson
import pytest
from aiohttp import web

from completions.aiohttp_transport import AiohttpTransport, DirectResponse
from completions.http_client import build_http_client

TIMEOUT = httpx2.Timeout(5.0)


def run(coro: Awaitable, timeout: float = 10.0):
    """Run one scenario on a fresh event loop, bounded in time."""

    async def main():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def web_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], name: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """An aiohttp.web server on 127.0.0.1 answering every path with `handler`; yields its base URL,
    with `name` as its host."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://{name}:{port}"
    finally:
        await runner.cleanup()


class RawServer:
    """An `asyncio.start_server` on 127.0.0.1 with byte-level control; `handle(reader, writer)` per
    connection. Records when each connection's peer closed it (`eof`)."""

    def __init__(self, handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
        self.handle = handle
        self.writers: list[asyncio.StreamWriter] = []
        self.connections = 0
        self.eof = asyncio.Event()

    async def __aenter__(self) -> "RawServer":
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self.writers.append(writer)
            try:
                await self.handle(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def wait_for_eof(self, reader: asyncio.StreamReader) -> None:
        """Read until the client closes the connection, then flag it."""
        while await reader.read(65536):
            pass
        self.eof.set()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """One HTTP/1.1 request: (request line, lower-cased headers, body by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return request_line, headers, body


def chunk(data: bytes) -> bytes:
    """`data` as one chunk of a `Transfer-Encoding: chunked` body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sse_lines(text: str) -> list[str]:
    """The reference: Server-Sent Events lines end with CRLF, LF or a lone CR (WHATWG HTML 9.2.5)."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":  # the text ended with a line ending (or was empty): no unterminated last line
        lines.pop()
    return lines


# --- 1. cookies -------------------------------------------------------------------------------------

# A host name, not 127.0.0.1: cookie jars (aiohttp's `CookieJar` by default) ignore cookies set by IP addresses,
# so the tests would not notice a real jar. /etc/hosts resolves it to the loopback address.
COOKIE_HOST = "localhost"


def cookie_setting_handler(seen: list):
    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        return web.json_response({"n": len(seen)}, headers={"Set-Cookie": "session=abc; Path=/"})

    return handler


def test_fetch_keeps_no_cookies():
    seen: list = []

    async def scenario():
        async with web_server(cookie_setting_handler(seen), COOKIE_HOST) as url:
            transport = AiohttpTransport(max_connections=4)
            try:
                first = await transport.fetch("GET", url + "/a", headers={}, timeout=TIMEOUT)
                second = await transport.fetch("GET", url + "/b", headers={}, timeout=TIMEOUT)
            finally:
                await transport.aclose()
        return first, second

    first, second = run(scenario())
    assert first.status_code == second.status_code == 200
    assert first.headers.get("set-cookie") == "session=abc; Path=/"  # the server did set one
    assert seen == [None, None]


def test_transport_keeps_no_cookies_across_httpx_clients():
    """The aiohttp session under two httpx2 clients must not carry one client's cookie to the other."""
    seen: list = []

    async def scenario():
        async with web_server(cookie_setting_handler(seen), COOKIE_HOST) as url:
            transport = AiohttpTransport(max_connections=4)
            first_client = httpx2.AsyncClient(transport=transport)
            second_client = httpx2.AsyncClient(transport=transport)
            try:
                first = await first_client.get(url + "/a")
                second = await second_client.get(url + "/b")
                third = await transport.fetch("GET", url + "/c", headers={}, timeout=TIMEOUT)
            finally:
                await transport.aclose()
        return first, second, third, dict(first_client.cookies)

    first, second, third, first_jar = run(scenario())
    assert first.headers["set-cookie"] == "session=abc; Path=/"
    assert first_jar == {"session": "abc"}  # the Set-Cookie reached httpx2 intact
    assert (second.status_code, third.status_code) == (200, 200)
    assert seen == [None, None, None]


def test_shared_upstream_client_keeps_no_cookies():
    seen: list = []

    async def scenario():
        async with web_server(cookie_setting_handler(seen), COOKIE_HOST) as url:
            client = build_http_client()
            try:
                await client.get(url + "/a")
                await client.post(url + "/b", content=b"{}")
            finally:
                await client.aclose()

    run(scenario())
    assert len(seen) == 2
    assert seen[1] is None, f"second caller's request carried Cookie: {seen[1]!r}"


# --- 2. fetch ---------------------------------------------------------------------------------------


def test_fetch_sends_request_and_returns_status_headers_body():
    received: list[dict] = []
    body = '{"id":"x","text":"hé"}'.encode()

    async def handler(request: web.Request) -> web.Response:
        received.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.rel_url.query),
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        if request.path == "/latin1":
            latin1_type = {"Content-Type": "text/plain; charset=iso-8859-1"}
            return web.Response(body="café".encode("latin-1"), headers=latin1_type)
        return web.Response(
            status=201, body=body, headers={"Content-Type": "application/json", "X-Request-Id": "req-42"}
        )

    async def scenario():
        async with web_server(handler) as url:
            transport = AiohttpTransport(max_connections=4)
            try:
                response = await transport.fetch(
                    "POST",
                    url + "/v1/chat",
                    headers={"Authorization": "Bearer sk-test", "X-Custom": "1", "Content-Type": "application/json"},
                    content=b'{"model": "m", "stream": false}',
                    params={"key": "a b&c", "alt": "sse"},
                    timeout=TIMEOUT,
                )
                latin1 = await transport.fetch("GET", url + "/latin1", headers={}, timeout=TIMEOUT)
            finally:
                await transport.aclose()
        return response, latin1

    response, latin1 = run(scenario())
    assert isinstance(response, DirectResponse)
    assert response.status_code == 201
    assert response.headers.get("x-request-id") == "req-42"
    assert response.headers.get("X-REQUEST-ID") == "req-42"
    assert response.headers["content-type"] == "application/json"
    assert response.content == body
    assert response.text == '{"id":"x","text":"hé"}'
    assert latin1.text == "café"

    sent = received[0]
    assert sent["method"] == "POST"
    assert sent["path"] == "/v1/chat"
    assert sent["query"] == {"key": "a b&c", "alt": "sse"}
    assert sent["headers"]["Authorization"] == "Bearer sk-test"
    assert sent["headers"]["X-Custom"] == "1"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["body"] == b'{"model": "m", "stream": false}'
    assert received[1]["method"] == "GET" and received[1]["body"] == b""


# --- 3. gzip ----------------------------------------------------------------------------------------


def test_gzip_answers_are_decoded_on_both_paths():
    payload = orjson.dumps({"choices": [{"message": {"content": "hello " * 300}}]})
    sse = b"data: one\n\ndata: two\n\n"

    async def handler(request: web.Request) -> web.Response:
        body = sse if request.path == "/sse" else payload
        return web.Response(
            body=gzip.compress(body), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async def scenario():
        async with web_server(handler) as url:
            transport = AiohttpTransport(max_connections=4)
            client = httpx2.AsyncClient(transport=transport)
            try:
                via_httpx = await client.post(url + "/v1/chat", content=b"{}")
                via_fetch = await transport.fetch("POST", url + "/v1/chat", headers={}, content=b"{}", timeout=TIMEOUT)
                async with transport.stream("POST", url + "/sse", headers={}, content=b"{}", timeout=TIMEOUT) as r:
                    lines = [line async for line in r.aiter_lines()]
            finally:
                await client.aclose()
        return via_httpx, via_fetch, lines

    via_httpx, via_fetch, lines = run(scenario())
    assert via_httpx.headers["content-encoding"] == "gzip"
    assert via_httpx.content == payload
    assert via_httpx.json()["choices"][0]["message"]["content"].startswith("hello hello")
    assert via_fetch.content == payload
    assert lines == ["data: one", "", "data: two", ""]


# --- 4. SSE lines -----------------------------------------------------------------------------------

# Written one by one, with pauses: a CRLF split across writes, a lone CR, UTF-8 characters split
# across writes, a CR in the middle of a write, and a last line without any line ending.
SSE_CHUNKS = [
    b"data: one\n",
    b"data: two\r",
    b"\ndata: three\r\n",
    b"\r",
    b"data: caf\xc3",
    b"\xa9 \xe2\x82",
    b"\xac\r\n",
    b"x\ry\n\n",
    b"last",
]
SSE_EXPECTED = ["data: one", "data: two", "data: three", "", "data: café €", "x", "y", "", "last"]


@pytest.mark.parametrize("framing", ["close", "chunked"])
def test_aiter_lines_splits_like_server_sent_events(framing):
    assert sse_lines(b"".join(SSE_CHUNKS).decode()) == SSE_EXPECTED  # the reference agrees

    async def handle(reader, writer):
        await read_request(reader)
        if framing == "chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        await writer.drain()
        for data in SSE_CHUNKS:
            await asyncio.sleep(0.02)
            writer.write(chunk(data) if framing == "chunked" else data)
            await writer.drain()
        if framing == "chunked":
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def scenario():
        async with RawServer(handle) as server:
            transport = AiohttpTransport(max_connections=4)
            try:
                async with transport.stream("POST", server.url, headers={}, content=b"{}", timeout=TIMEOUT) as r:
                    return r.status_code, [line async for line in r.aiter_lines()]
            finally:
                await transport.aclose()

    status, lines = run(scenario())
    assert status == 200
    assert lines == SSE_EXPECTED


def fake_response(chunks: list[bytes], charset: str | None = None) -> SimpleNamespace:
    """Just what `DirectResponse.aiter_lines` reads of an aiohttp response, with chosen chunk boundaries."""

    async def iter_any():
        for chunk in chunks:
            yield chunk

    return SimpleNamespace(status=200, headers={}, charset=charset, content=SimpleNamespace(iter_any=iter_any))


async def direct_lines(chunks: list[bytes]) -> list[str]:
    return [line async for line in DirectResponse(fake_response(chunks)).aiter_lines()]


@pytest.mark.parametrize(
    "data",
    [
        b"".join(SSE_CHUNKS),
        b"event: a\r\ndata: \xf0\x9f\x98\x80\r\r\n\nid: 1\n\r\ndata: end\r",
        b"\r\n\r\n\n\r\rdata: x",
    ],
)
def test_aiter_lines_at_every_chunk_boundary(data):
    """Every way of cutting the body in two or three pieces (and byte by byte) gives the same lines."""
    expected = sse_lines(data.decode())

    async def scenario():
        splits = [[data], [data[i : i + 1] for i in range(len(data))]]
        for i in range(len(data) + 1):
            for j in range(i, len(data) + 1):
                splits.append([data[:i], data[i:j], data[j:]])
        return [(chunks, await direct_lines(chunks)) for chunks in splits]

    for chunks, lines in run(scenario()):
        assert lines == expected, chunks


@pytest.mark.parametrize("data", [b"data: x\n\r", b"data: x\r\r", b"data: x\r\n\r"])
def test_aiter_lines_keeps_a_final_blank_line_ended_by_cr(data):
    assert run(direct_lines([data])) == sse_lines(data.decode()) == ["data: x", ""]


# --- 5. error translation ---------------------------------------------------------------------------


def test_a_header_aiohttp_cannot_send_is_an_httpx2_error_not_a_crash():
    """A provider header with a line break (an operator's typo) becomes a transport error the
    adapters translate, rather than an exception that would surface as a 500; nothing is sent."""
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"ok": True})

    async def scenario():
        transport = AiohttpTransport(max_connections=4)
        async with web_server(handler) as base:
            try:
                await transport.fetch("GET", base + "/v1/models", headers={"x-team": "a\r\nInjected: 1"}, timeout=TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                return exc
            finally:
                await transport.aclose()

    exc = run(scenario())
    assert isinstance(exc, httpx2.TransportError) and isinstance(exc.__cause__, ValueError), repr(exc)
    assert seen == []


def test_connection_refused_is_connect_error():
    url = f"http://127.0.0.1:{free_port()}/v1/models"

    async def scenario():
        transport = AiohttpTransport(max_connections=4)
        client = httpx2.AsyncClient(transport=transport)
        errors = {}
        try:
            for name, attempt in {
                "fetch": lambda: transport.fetch("GET", url, headers={}, timeout=TIMEOUT),
                "stream": lambda: _open_stream(transport, url),
                "httpx": lambda: client.get(url),
            }.items():
                try:
                    await attempt()
                except Exception as exc:  # noqa: BLE001 - the test inspects it
                    errors[name] = exc
        finally:
            await client.aclose()
        return errors

    errors = run(scenario())
    assert set(errors) == {"fetch", "stream", "httpx"}
    for name, exc in errors.items():
        assert type(exc) is httpx2.ConnectError, (name, exc)
        assert isinstance(exc.__cause__, aiohttp.ClientConnectorError), name
    assert str(errors["httpx"].request.url) == url


async def _open_stream(transport: AiohttpTransport, url: str) -> list[str]:
    async with transport.stream("GET", url, headers={}, timeout=TIMEOUT) as response:
        return [line async for line in response.aiter_lines()]


def test_silent_server_is_read_timeout():
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
            transport = AiohttpTransport(max_connections=4)
            client = httpx2.AsyncClient(transport=transport)
            results = {}

            async def attempt(name, action):
                started = time.monotonic()
                with pytest.raises(httpx2.ReadTimeout) as excinfo:
                    await action()
                results[name] = (time.monotonic() - started, excinfo.value)

            async def httpx_stream_body():
                async with client.stream("GET", server.url + "/headers-only", timeout=timeout) as response:
                    assert response.status_code == 200
                    async for _ in response.aiter_lines():
                        pass

            async def direct_stream_body():
                async with transport.stream("GET", server.url + "/headers-only", headers={}, timeout=timeout) as r:
                    assert r.status_code == 200
                    async for _ in r.aiter_lines():
                        pass

            try:
                await attempt("fetch", lambda: transport.fetch("GET", server.url + "/", headers={}, timeout=timeout))
                await attempt("httpx", lambda: client.get(server.url + "/", timeout=timeout))
                await attempt("httpx stream body", httpx_stream_body)
                await attempt("direct stream body", direct_stream_body)
            finally:
                await client.aclose()
            return results

    results = run(scenario())
    assert set(results) == {"fetch", "httpx", "httpx stream body", "direct stream body"}
    for name, (elapsed, exc) in results.items():
        assert 0.25 <= elapsed < 3, (name, elapsed)
        assert not isinstance(exc, httpx2.ConnectTimeout), name


def test_truncated_body_is_remote_protocol_error():
    """`Content-Length: 1000`, then 10 bytes and a closed connection; or a close before any answer."""

    async def handle(reader, writer):
        request_line, _, _ = await read_request(reader)
        if "/hang-up" not in request_line:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n0123456789")
            await writer.drain()

    async def scenario():
        async with RawServer(handle) as server:
            url = server.url + "/v1/chat"
            transport = AiohttpTransport(max_connections=4)
            client = httpx2.AsyncClient(transport=transport)
            errors = {}

            async def httpx_stream_aread():
                async with client.stream("GET", url) as response:
                    assert response.status_code == 200
                    await response.aread()

            async def direct_stream_aread():
                async with transport.stream("GET", url, headers={}, timeout=TIMEOUT) as response:
                    assert response.status_code == 200
                    await response.aread()

            attempts = {
                "fetch": lambda: transport.fetch("GET", url, headers={}, timeout=TIMEOUT),
                "direct stream aread": direct_stream_aread,
                "direct stream lines": lambda: _open_stream(transport, url),
                "httpx content": lambda: client.get(url),
                "httpx stream aread": httpx_stream_aread,
                "fetch, no answer": lambda: transport.fetch(
                    "GET", server.url + "/hang-up", headers={}, timeout=TIMEOUT
                ),
                "httpx, no answer": lambda: client.get(server.url + "/hang-up"),
            }
            try:
                for name, action in attempts.items():
                    try:
                        await action()
                    except Exception as exc:  # noqa: BLE001 - the test inspects it
                        errors[name] = exc
            finally:
                await client.aclose()
            return errors

    errors = run(scenario())
    assert set(errors) == {
        "fetch", "direct stream aread", "direct stream lines", "httpx content", "httpx stream aread",
        "fetch, no answer", "httpx, no answer",
    }
    for name, exc in errors.items():
        assert type(exc) is httpx2.RemoteProtocolError, (name, repr(exc))
    assert isinstance(errors["fetch"].__cause__, aiohttp.ClientPayloadError)
    assert isinstance(errors["fetch, no answer"].__cause__, aiohttp.ServerDisconnectedError)


# --- 6. cancellation and the pool -------------------------------------------------------------------


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


@pytest.mark.parametrize("path", ["direct", "httpx"])
def test_cancelled_stream_closes_the_upstream_connection(path):
    async def scenario():
        async with cancellable_stream_server() as server:
            transport = AiohttpTransport(max_connections=4)
            client = httpx2.AsyncClient(transport=transport)
            first_line = asyncio.Event()
            lines: list[str] = []

            async def consume():
                if path == "direct":
                    stream = transport.stream(
                        "POST", server.url + "/stream", headers={}, content=b"{}", timeout=TIMEOUT
                    )
                else:
                    stream = client.stream("POST", server.url + "/stream", content=b"{}")
                async with stream as response:
                    async for line in response.aiter_lines():
                        lines.append(line)
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
                await client.aclose()
            return lines, ok, server.connections

    lines, ok, connections = run(scenario())
    assert lines == ["data: first", ""]
    assert (ok.status_code, ok.content) == (200, b"ok")
    assert connections == 2


def test_fully_read_answers_reuse_the_connection():
    """The counterpart of the cancellation test: a finished answer leaves its connection in the pool."""
    peers: list = []

    async def handler(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername"))
        if request.path == "/sse":
            return web.Response(body=b"data: a\n\n", headers={"Content-Type": "text/event-stream"})
        return web.json_response({"ok": True})

    async def scenario():
        async with web_server(handler) as url:
            transport = AiohttpTransport(max_connections=4)
            client = httpx2.AsyncClient(transport=transport)
            try:
                await transport.fetch("GET", url + "/a", headers={}, timeout=TIMEOUT)
                async with transport.stream("POST", url + "/sse", headers={}, content=b"{}", timeout=TIMEOUT) as r:
                    assert [line async for line in r.aiter_lines()] == ["data: a", ""]
                await client.get(url + "/b")
                await transport.fetch("GET", url + "/c", headers={}, timeout=TIMEOUT)
            finally:
                await client.aclose()

    run(scenario())
    assert len(peers) == 4
    assert len(set(peers)) == 1, peers


# --- 7. proxy ---------------------------------------------------------------------------------------


def test_requests_go_through_the_configured_proxy():
    seen: list[tuple[str, dict, bytes]] = []

    async def handle(reader, writer):
        request_line, headers, body = await read_request(reader)
        seen.append((request_line, headers, body))
        answer = b'{"via": "proxy"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
        )
        await writer.drain()

    async def scenario():
        async with RawServer(handle) as proxy:
            proxy_url = f"http://127.0.0.1:{proxy.port}"
            transport = AiohttpTransport(max_connections=4, proxy=proxy_url)
            client = httpx2.AsyncClient(transport=transport)
            shared = build_http_client(proxy=proxy_url)
            try:
                direct = await transport.fetch(
                    "GET", "http://upstream.invalid:8080/v1/models", headers={}, params={"x": "1"}, timeout=TIMEOUT
                )
                via_httpx = await client.post("http://upstream.invalid/v1/chat", content=b'{"a":1}')
                via_shared = await shared.direct.fetch(
                    "GET", "http://upstream.invalid/v1/m", headers={}, timeout=TIMEOUT
                )
            finally:
                await client.aclose()
                await shared.aclose()

            dead_proxy = AiohttpTransport(max_connections=4, proxy=f"http://127.0.0.1:{free_port()}")
            try:
                with pytest.raises(httpx2.ProxyError):
                    await dead_proxy.fetch("GET", "http://upstream.invalid/", headers={}, timeout=TIMEOUT)
            finally:
                await dead_proxy.aclose()
        return direct, via_httpx, via_shared

    direct, via_httpx, via_shared = run(scenario())
    assert direct.status_code == 200 and orjson.loads(direct.content) == {"via": "proxy"}
    assert via_httpx.json() == {"via": "proxy"}
    assert orjson.loads(via_shared.content) == {"via": "proxy"}
    assert [line for line, _, _ in seen] == [
        "GET http://upstream.invalid:8080/v1/models?x=1 HTTP/1.1",
        "POST http://upstream.invalid/v1/chat HTTP/1.1",
        "GET http://upstream.invalid/v1/m HTTP/1.1",
    ]
    assert seen[0][1]["host"] == "upstream.invalid:8080"
    assert seen[1][1]["host"] == "upstream.invalid"
    assert seen[1][2] == b'{"a":1}'
