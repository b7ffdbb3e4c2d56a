"""Loopback HTTP servers for the transport tests: started and stopped by each test, on its own
event loop, on 127.0.0.1."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
from aiohttp import web

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


async def errors_of(attempts: dict[str, Callable[[], Awaitable]]) -> dict[str, Exception]:
    """Run each attempt in turn; the exception each raised, by name (those that succeeded are absent)."""
    errors = {}
    for name, attempt in attempts.items():
        try:
            await attempt()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            errors[name] = exc
    return errors
