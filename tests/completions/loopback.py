"""Loopback HTTP servers for the transport tests: started and stopped by each test, on its own
event loop, on 127.0.0.1."""

import asyncio
import contextlib
import datetime
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TIMEOUT = httpx2.Timeout(5.0)


@pytest.fixture(params=["h1", "aiohttp"])
def transport_class(request):
    """Each production transport in turn: `H1Transport` (direct requests) and `AiohttpTransport`
    (through a proxy); both keep the `UpstreamTransport` contract."""
    from completions.upstream.aiohttp_transport import AiohttpTransport
    from completions.upstream.h1 import H1Transport

    return H1Transport if request.param == "h1" else AiohttpTransport


def run(coro: Awaitable, timeout: float = 10.0):
    """Run one scenario on a fresh event loop, bounded in time."""

    async def main():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def web_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    name: str = "127.0.0.1",
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[str]:
    """An aiohttp.web server on 127.0.0.1 answering every path with `handler`; yields its base URL,
    with `name` as its host (https with `ssl_context`)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        yield f"{'https' if ssl_context else 'http'}://{name}:{port}"
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


async def errors_of(attempts: dict[str, Callable[[], Awaitable]]) -> dict[str, Exception]:
    """Run each attempt in turn; the exception each raised, by name (those that succeeded are absent)."""
    errors = {}
    for name, attempt in attempts.items():
        try:
            await attempt()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            errors[name] = exc
    return errors


def tls_contexts(hostname: str, directory: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS contexts: a self-signed certificate for `hostname` only (no IP address),
    written under `directory`, and a client context that trusts just that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as file:
        file.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as file:
        file.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=cert_path)
    return server, client
