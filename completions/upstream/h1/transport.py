"""`H1Transport` (see the package docstring): request bytes, the pool's use, connecting."""

import asyncio
import base64
import re
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx2

from completions.upstream.h1.connection import Connection, Pool
from completions.upstream.h1.response import UNLIMITED, H1Response, Limits
from completions.upstream.transport import Timeout

_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_IN_TARGET = re.compile(r"[^\x21-\x7e]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


class Target:
    """What a URL says about where and how to connect (parsed once per URL)."""

    __slots__ = ("secure", "host", "port", "path", "host_header", "authorization")

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise httpx2.InvalidURL(f"Invalid URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise httpx2.UnsupportedProtocol(f"Request URL has an unsupported protocol '{parts.scheme}://'.")
        host = parts.hostname
        if not host:
            raise httpx2.InvalidURL("Invalid URL: no host.")
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise httpx2.InvalidURL(f"Invalid URL: {exc}") from None
        self.secure = parts.scheme == "https"
        self.host = host
        self.port = port or (443 if self.secure else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if _UNSAFE_IN_TARGET.search(path):  # spaces, controls, non-ASCII: percent-encoded as UTF-8
            path = quote(path, safe="".join(map(chr, range(0x21, 0x7F))))
        self.path = path
        name = f"[{host}]" if ":" in host else host
        self.host_header = name if port is None or port == (443 if self.secure else 80) else f"{name}:{port}"
        self.authorization = None
        if parts.username is not None:
            credentials = f"{parts.username}:{parts.password or ''}".encode()
            self.authorization = "Basic " + base64.b64encode(credentials).decode()


class H1Transport:
    """Direct HTTP/1.1 requests (see the package docstring); `ssl_context` replaces the system's
    trusted certificates (tests); the `max_*_bytes` caps bound what an answer may hold."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        max_body_bytes: int = UNLIMITED,
        max_line_bytes: int = UNLIMITED,
        max_stream_bytes: int = UNLIMITED,
    ) -> None:
        self.limits = Limits(max_body_bytes, max_line_bytes, max_stream_bytes)
        self.ssl_context = ssl_context
        self._pool = Pool(max_connections, keepalive_expiry)
        self._targets: dict[str, Target] = {}

    async def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: Timeout,
        server_hostname: str | None = None,
    ) -> "H1Response":
        """Send one request and read its whole answer."""
        response = await self._send(method, url, headers, content, params, timeout, server_hostname)
        try:
            await response.aread()
        finally:
            response.release()
        return response

    def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: Timeout,
        server_hostname: str | None = None,
    ) -> "_Streaming":
        """Send one request (`async with`); the response with its body still to be read."""
        return _Streaming(self, (method, url, headers, content, params, timeout, server_hostname))

    def _target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            target = Target(url)
            if len(self._targets) < 1024:
                self._targets[url] = target
        return target

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        params: Mapping[str, Any] | None,
        timeout: Timeout,
        server_hostname: str | None,
    ) -> "H1Response":
        target = self._target(url)
        request = _request_bytes(method, target, headers, content, params)
        loop = asyncio.get_running_loop()
        key = (target.host, target.port, target.secure, server_hostname)
        connection = self._pool.take_idle(key, loop.time())
        if connection is None:
            connection = await self._connect(target, key, timeout, server_hostname)
        try:
            try:
                connection.transport.write(request)
            except (OSError, RuntimeError) as exc:  # closed under us (uvloop raises RuntimeError)
                raise httpx2.RemoteProtocolError("Server disconnected before the request was sent.") from exc
            while not connection.head_done:
                await connection.wait(timeout.read)
        except BaseException:
            connection.close()
            self._pool.give_back(connection, loop.time())
            raise
        if method == "HEAD":  # no body follows, whatever the head says; the parser cannot be told
            connection.complete = True
            connection.close()
        return H1Response(self._pool, connection, self.limits, timeout.read)

    async def _connect(self, target: Target, key: tuple, timeout: Timeout, server_hostname: str | None) -> Connection:
        pool = self._pool
        try:
            async with asyncio.timeout(timeout.pool):
                while pool.open >= pool.limit and not pool.close_one_idle():
                    waiter = asyncio.get_running_loop().create_future()
                    pool.waiters.append(waiter)
                    await waiter
                    connection = pool.take_idle(key, asyncio.get_running_loop().time())
                    if connection is not None:
                        return connection
                pool.open += 1
                try:
                    return await self._open(target, key, timeout.connect, server_hostname)
                except BaseException:
                    pool.open -= 1
                    pool._wake_waiter()
                    raise
        except TimeoutError:
            raise httpx2.ConnectTimeout(
                "Timed out connecting to the upstream (or waiting for a pooled connection)."
            ) from None

    async def _open(self, target: Target, key: tuple, connect: float | None, server_hostname: str | None) -> Connection:
        context: ssl.SSLContext | None = None
        if target.secure:
            context = self.ssl_context or _default_ssl_context()
        loop = asyncio.get_running_loop()
        opening = loop.create_connection(
            lambda: Connection(key),
            target.host,
            target.port,
            ssl=context,
            server_hostname=(server_hostname or target.host) if context is not None else None,
        )
        try:
            async with asyncio.timeout(connect):
                _, connection = await opening
        except TimeoutError:
            raise httpx2.ConnectTimeout(f"Timed out connecting to {target.host_header}.") from None
        except (OSError, ssl.CertificateError) as exc:  # refused, unreachable, DNS, TLS
            raise httpx2.ConnectError(f"Cannot connect to {target.host_header}: {exc}") from exc
        self._pool.busy.add(connection)
        return connection

    async def aclose(self) -> None:
        pool = self._pool
        for connection in [*(c for idle in pool.idle.values() for c in idle), *pool.busy]:
            connection.close()
            pool.forget(connection)
        pool.idle.clear()
        pool.busy.clear()

    async def __aenter__(self) -> "H1Transport":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Streaming:
    """`H1Transport.stream`'s context manager: the response, released on the way out."""

    __slots__ = ("transport", "arguments", "response")

    def __init__(self, transport: H1Transport, arguments: tuple) -> None:
        self.transport, self.arguments = transport, arguments
        self.response: H1Response | None = None

    async def __aenter__(self) -> "H1Response":
        self.response = await self.transport._send(*self.arguments)
        return self.response

    async def __aexit__(self, *exc_info: object) -> None:
        self.response.release()


def _request_bytes(
    method: str, target: Target, headers: Mapping[str, str], content: bytes | None, params: Mapping[str, Any] | None
) -> bytes:
    path = target.path
    if params:
        path += ("&" if "?" in path else "?") + urlencode(params, doseq=True)
    lines = [f"{method} {path} HTTP/1.1"]
    has_host = has_authorization = False
    for name, value in headers.items():
        value = str(value)
        if not _HEADER_NAME.fullmatch(name) or _BAD_HEADER_VALUE.search(value):
            raise httpx2.LocalProtocolError(f"The header {name!r} cannot be sent: invalid characters.")
        lower = name.lower()
        if lower in _FRAMING:
            continue  # framed here, from `content`
        if lower == "host":
            has_host = True
        elif lower == "authorization":
            has_authorization = True
        lines.append(f"{name}: {value}")
    if not has_host:
        lines.append("Host: " + target.host_header)
    if target.authorization is not None and not has_authorization:
        lines.append("Authorization: " + target.authorization)
    if content is not None:
        lines.append(f"Content-Length: {len(content)}")
    elif method in _BODY_METHODS:
        lines.append("Content-Length: 0")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + content if content else head


_ssl_context: ssl.SSLContext | None = None


def _default_ssl_context() -> ssl.SSLContext:
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context
