"""What `H1Transport` does on its own, against real servers on 127.0.0.1 (the contract both
transports keep is in test_transport_contract.py, test_transport_failures.py and
test_transport_lines.py): its pool's limit and reuse, request targets, interim answers, HEAD, a
large answer read slowly, and the caps on decoded bytes."""

import asyncio
import gzip
import zlib

import httpx2
import pytest
from aiohttp import web

from completions import errors
from completions.upstream.h1 import H1Transport
from tests.completions.loopback import TIMEOUT, RawServer, read_request, run, web_server


def test_the_pool_limit_makes_a_request_wait_for_a_connection_and_then_reuse_it():
    peers: list = []
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        if request.path == "/slow":
            await release.wait()
        return web.json_response({"path": request.path})

    async def scenario():
        async with web_server(handler) as url:
            async with H1Transport(max_connections=1) as transport:
                slow = asyncio.create_task(transport.fetch("GET", url + "/slow", headers={}, timeout=TIMEOUT))
                await asyncio.sleep(0.1)
                waiting = asyncio.create_task(transport.fetch("GET", url + "/next", headers={}, timeout=TIMEOUT))
                await asyncio.sleep(0.1)
                started_early = len(peers) > 1
                impatient = httpx2.Timeout(5.0, pool=0.2)
                with pytest.raises(httpx2.ConnectTimeout):  # the pool wait is bounded by `pool`
                    await transport.fetch("GET", url + "/late", headers={}, timeout=impatient)
                release.set()
                answers = [await slow, await waiting]
        return started_early, answers

    started_early, answers = run(scenario())
    assert not started_early  # the second request waited for the only connection
    assert [answer.content for answer in answers] == [b'{"path": "/slow"}', b'{"path": "/next"}']
    assert len(peers) == 2 and len(set(peers)) == 1  # and then went over it


def test_a_connection_the_server_closed_while_idle_is_replaced():
    async def handle(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive, then closes anyway
        await writer.drain()

    async def scenario():
        async with RawServer(handle) as server:
            async with H1Transport(max_connections=4) as transport:
                first = await transport.fetch("GET", server.url + "/a", headers={}, timeout=TIMEOUT)
                await asyncio.sleep(0.1)  # the server's close arrives while the connection is idle
                second = await transport.fetch("GET", server.url + "/b", headers={}, timeout=TIMEOUT)
            return first.content, second.content, server.connections

    assert run(scenario()) == (b"ok", b"ok", 2)


def test_request_targets_params_host_and_framing():
    seen: list = []

    async def handle(reader, writer):
        while True:  # until the client closes (read_request raises then)
            request_line, headers, body = await read_request(reader)
            seen.append((request_line, headers, body))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    async def scenario():
        async with RawServer(handle) as server:
            async with H1Transport(max_connections=4) as transport:
                base = f"http://localhost:{server.port}"
                await transport.fetch("GET", base + "/a b/é?x=1#frag", headers={}, params={"q": "a&b"}, timeout=TIMEOUT)
                await transport.fetch(
                    "POST", base + "/p", headers={"Host": "named.example", "Content-Length": "99"}, timeout=TIMEOUT
                )
                with pytest.raises(httpx2.UnsupportedProtocol):
                    await transport.fetch("GET", "ftp://127.0.0.1/x", headers={}, timeout=TIMEOUT)
                with pytest.raises(httpx2.InvalidURL):
                    await transport.fetch("GET", "http://127.0.0.1:99999/x", headers={}, timeout=TIMEOUT)
                with pytest.raises(httpx2.LocalProtocolError):
                    await transport.fetch("GET", base + "/", headers={"Bad Name": "x"}, timeout=TIMEOUT)
        return server.port

    port = run(scenario())
    assert [line for line, _, _ in seen] == ["GET /a%20b/%C3%A9?x=1&q=a%26b HTTP/1.1", "POST /p HTTP/1.1"]
    assert seen[0][1]["host"] == f"localhost:{port}" and "content-length" not in seen[0][1]
    assert seen[1][1]["host"] == "named.example"  # the caller's Host is kept (a pinned fetch)
    assert seen[1][1]["content-length"] == "0"  # framing comes from the body, never from the caller


def test_an_interim_answer_is_skipped_and_head_has_no_body():
    async def handle(reader, writer):
        while True:  # until the client closes (read_request raises then)
            request_line, _, _ = await read_request(reader)
            if request_line.startswith("HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone")
            await writer.drain()

    async def scenario():
        async with RawServer(handle) as server:
            async with H1Transport(max_connections=4) as transport:
                created = await transport.fetch("POST", server.url + "/", headers={}, content=b"{}", timeout=TIMEOUT)
                head = await transport.fetch("HEAD", server.url + "/", headers={}, timeout=TIMEOUT)
                after = await transport.fetch("POST", server.url + "/", headers={}, content=b"{}", timeout=TIMEOUT)
        return created, head, after

    created, head, after = run(scenario())
    assert (created.status_code, created.content) == (201, b"done")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "1234")
    assert (after.status_code, after.content) == (201, b"done")


def test_a_large_answer_read_slowly_arrives_whole():
    """Reading pauses while more than a few hundred KB wait unread, and resumes as they are read."""
    body = bytes(range(256)) * (8 * 4096)  # 8 MB

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/octet-stream")

    async def scenario():
        async with web_server(handler) as url:
            async with H1Transport(max_connections=4) as transport:
                received, most_buffered = bytearray(), 0
                async with transport.stream("GET", url + "/big", headers={}, timeout=TIMEOUT) as response:
                    async for piece in response.aiter_bytes():
                        received += piece
                        most_buffered = max(most_buffered, len(piece))
                        await asyncio.sleep(0.001)
        return bytes(received), most_buffered

    received, most_buffered = run(scenario(), timeout=30)
    assert received == body
    assert most_buffered < 2 * 1024 * 1024  # never the whole answer at once


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_caps_count_decoded_bytes_for_every_encoding(encoding):
    plain = b'{"a": "' + b"x" * 200_000 + b'"}'
    if encoding == "gzip":
        wire = gzip.compress(plain)
    elif encoding == "deflate":
        wire = zlib.compress(plain)
    else:
        packer = zlib.compressobj(wbits=-15)
        wire = packer.compress(plain) + packer.flush()

    async def handler(request: web.Request) -> web.Response:
        name = "gzip" if encoding == "gzip" else "deflate"
        return web.Response(body=wire, headers={"Content-Encoding": name, "Content-Type": "application/json"})

    async def scenario():
        async with web_server(handler) as url:
            async with H1Transport(max_connections=4) as roomy:
                whole = await roomy.fetch("GET", url + "/", headers={}, timeout=TIMEOUT)
            async with H1Transport(max_connections=4, max_body_bytes=100_000) as tight:
                with pytest.raises(errors.UpstreamResponseTooLarge) as caught:
                    await tight.fetch("GET", url + "/", headers={}, timeout=TIMEOUT)
        return whole, caught.value

    whole, refused = run(scenario())
    assert len(wire) < 100_000 and whole.content == plain
    assert "100000 bytes" in refused.message


@pytest.mark.parametrize("when", ["with the answer", "while idle"])
def test_bytes_after_an_answer_are_never_read_as_the_next_answer(when):
    """A server that sends more than it was asked for (a second answer, queued ahead) does not get to
    answer the next request on that connection: the connection is dropped, not reused."""

    async def handle(reader, writer):
        while True:  # until the client closes (read_request raises then)
            request_line, _, _ = await read_request(reader)
            answer = request_line.split()[1].encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
            if when == "while idle":
                await writer.drain()
                await asyncio.sleep(0.02)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")
            await writer.drain()

    async def scenario():
        async with RawServer(handle) as server:
            async with H1Transport(max_connections=4) as transport:
                first = await transport.fetch("GET", server.url + "/first", headers={}, timeout=TIMEOUT)
                await asyncio.sleep(0.05)
                second = await transport.fetch("GET", server.url + "/second", headers={}, timeout=TIMEOUT)
            return first.content, second.content, server.connections

    assert run(scenario()) == (b"/first", b"/second", 2)
