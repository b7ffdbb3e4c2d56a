"""Both production `UpstreamTransport`s (`H1Transport` for direct requests, `AiohttpTransport`
through a proxy) against real HTTP servers on 127.0.0.1: cookies, request and answer bodies,
decoding, proxies, TLS server names. (Lines: test_transport_lines.py; errors and cancellation:
test_transport_failures.py.)
"""

import gzip

import httpx2
import orjson
import pytest
from aiohttp import web

from completions.upstream.aiohttp_transport import AiohttpTransport
from completions.upstream.client import build_http_client
from tests.completions.loopback import TIMEOUT, RawServer, read_request, run, web_server
from tests.helpers import free_port

# --- cookies -------------------------------------------------------------------------------------

# A host name, not 127.0.0.1: cookie jars (aiohttp's `CookieJar` by default) ignore cookies set by IP addresses,
# so the tests would not notice a real jar. /etc/hosts resolves it to the loopback address.
COOKIE_HOST = "localhost"


def cookie_setting_handler(seen: list):
    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        return web.json_response({"n": len(seen)}, headers={"Set-Cookie": "session=abc; Path=/"})

    return handler


def test_fetch_keeps_no_cookies(transport_class):
    seen: list = []

    async def scenario():
        async with web_server(cookie_setting_handler(seen), COOKIE_HOST) as url:
            transport = transport_class(max_connections=4)
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


def test_shared_upstream_client_keeps_no_cookies():
    seen: list = []

    async def scenario():
        async with web_server(cookie_setting_handler(seen), COOKIE_HOST) as url:
            async with build_http_client() as client:
                await client.fetch("GET", url + "/a", headers={}, timeout=TIMEOUT)
                async with client.stream("POST", url + "/b", headers={}, content=b"{}", timeout=TIMEOUT) as response:
                    await response.aread()

    run(scenario())
    assert len(seen) == 2
    assert seen[1] is None, f"second caller's request carried Cookie: {seen[1]!r}"


# --- fetch ---------------------------------------------------------------------------------------


def test_fetch_sends_request_and_returns_status_headers_body(transport_class):
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
            transport = transport_class(max_connections=4)
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


# --- gzip ----------------------------------------------------------------------------------------


def test_gzip_answers_are_decoded_however_read(transport_class):
    payload = orjson.dumps({"choices": [{"message": {"content": "hello " * 300}}]})
    sse = b"data: one\n\ndata: two\n\n"

    async def handler(request: web.Request) -> web.Response:
        body = sse if request.path == "/sse" else payload
        return web.Response(
            body=gzip.compress(body), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async def scenario():
        async with web_server(handler) as url:
            async with transport_class(max_connections=4) as transport:
                via_fetch = await transport.fetch("POST", url + "/v1/chat", headers={}, content=b"{}", timeout=TIMEOUT)
                async with transport.stream("POST", url + "/v1/chat", headers={}, timeout=TIMEOUT) as r:
                    pieces = [piece async for piece in r.aiter_bytes()]
                async with transport.stream("POST", url + "/sse", headers={}, content=b"{}", timeout=TIMEOUT) as r:
                    lines = [line async for line in r.aiter_lines()]
        return via_fetch, pieces, lines

    via_fetch, pieces, lines = run(scenario())
    assert via_fetch.headers["content-encoding"] == "gzip"
    assert via_fetch.content == payload
    assert orjson.loads(via_fetch.text)["choices"][0]["message"]["content"].startswith("hello hello")
    assert b"".join(pieces) == payload
    assert lines == ["data: one", "", "data: two", ""]


# --- proxy ---------------------------------------------------------------------------------------


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
            shared = build_http_client(proxy=proxy_url)
            try:
                direct = await transport.fetch(
                    "GET", "http://upstream.invalid:8080/v1/models", headers={}, params={"x": "1"}, timeout=TIMEOUT
                )
                async with transport.stream(
                    "POST", "http://upstream.invalid/v1/chat", headers={}, content=b'{"a":1}', timeout=TIMEOUT
                ) as streamed:
                    await streamed.aread()
                via_shared = await shared.fetch("GET", "http://upstream.invalid/v1/m", headers={}, timeout=TIMEOUT)
            finally:
                await transport.aclose()
                await shared.aclose()

            dead_proxy = AiohttpTransport(max_connections=4, proxy=f"http://127.0.0.1:{free_port()}")
            try:
                with pytest.raises(httpx2.ProxyError):
                    await dead_proxy.fetch("GET", "http://upstream.invalid/", headers={}, timeout=TIMEOUT)
            finally:
                await dead_proxy.aclose()
        return direct, streamed, via_shared

    direct, streamed, via_shared = run(scenario())
    assert direct.status_code == 200 and orjson.loads(direct.content) == {"via": "proxy"}
    assert orjson.loads(streamed.content) == {"via": "proxy"}
    assert orjson.loads(via_shared.content) == {"via": "proxy"}
    assert [line for line, _, _ in seen] == [
        "GET http://upstream.invalid:8080/v1/models?x=1 HTTP/1.1",
        "POST http://upstream.invalid/v1/chat HTTP/1.1",
        "GET http://upstream.invalid/v1/m HTTP/1.1",
    ]
    assert seen[0][1]["host"] == "upstream.invalid:8080"
    assert seen[1][1]["host"] == "upstream.invalid"
    assert seen[1][2] == b'{"a":1}'
