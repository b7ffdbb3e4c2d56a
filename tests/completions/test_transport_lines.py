"""`aiter_lines` of both transports' answers: Server-Sent Events lines split on CRLF, LF or CR,
whatever the chunking, from a real server on 127.0.0.1 and (`transport.line_batches`, which both
use) at every chunk boundary.
"""

import asyncio
import re

import pytest

from completions.upstream.transport import line_batches
from tests.completions.loopback import TIMEOUT, RawServer, chunk, read_request, run


def sse_lines(text: str) -> list[str]:
    """The reference: Server-Sent Events lines end with CRLF, LF or a lone CR (WHATWG HTML 9.2.5)."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":  # the text ended with a line ending (or was empty): no unterminated last line
        lines.pop()
    return lines


# --- SSE lines -----------------------------------------------------------------------------------

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
def test_aiter_lines_splits_like_server_sent_events(framing, transport_class):
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
            transport = transport_class(max_connections=4)
            try:
                async with transport.stream("POST", server.url, headers={}, content=b"{}", timeout=TIMEOUT) as r:
                    return r.status_code, [line async for line in r.aiter_lines()]
            finally:
                await transport.aclose()

    status, lines = run(scenario())
    assert status == 200
    assert lines == SSE_EXPECTED


async def _pieces(chunks: list[bytes]):
    for piece in chunks:
        if piece:  # neither transport hands out an empty piece
            yield piece


async def direct_lines(chunks: list[bytes]) -> list[str]:
    batches = line_batches(_pieces(chunks), None, 1 << 20, lambda: AssertionError("too long"))
    return [line async for lines in batches for line in lines]


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
