"""`H1Transport`: the production `UpstreamTransport` for requests that go straight to the provider.

HTTP/1.1 over asyncio protocols, answers parsed by httptools (llhttp, the parser uvicorn serves
with), one keep-alive pool per transport. aiohttp's client spends about 200 µs of CPU per request
on its URL and header objects, tracing hooks and stream reader; this spends about 40
(bench/README). Requests through an HTTP proxy (`G4F["PROXY"]`, a caller's allowed `proxy`) go
through `AiohttpTransport`, which also speaks CONNECT; `client.build_http_client` chooses.

The contract is `completions.upstream.transport`'s, as `AiohttpTransport` keeps it: headers as
given plus `Host` and `Content-Length`, no cookies, no redirects, `server_hostname` for TLS,
`gzip`/`deflate` answers decoded, the same caps counted on decoded bytes while reading, and
httpx2's exceptions. A connection goes back to the pool only after its answer was read to the end
under keep-alive; a stream left early (a cancelled request) closes its connection.
"""

import asyncio
import base64
import codecs
import re
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httptools
import httpx2
from multidict import CIMultiDict, CIMultiDictProxy

from completions import errors
from completions.upstream.transport import BEFORE_UPSTREAM_WAIT, Timeout, line_batches

UNLIMITED = 1 << 62
HIGH_WATER = 1 << 18  # bytes of body buffered before reading from the socket pauses
_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_IN_TARGET = re.compile(r"[^\x21-\x7e]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


class _Target:
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


class _Connection(asyncio.Protocol):
    """One upstream connection and the answer being read on it (httptools calls the `on_*`
    methods from `data_received`)."""

    def __init__(self, key: tuple) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.failure: Exception | None = None  # why the connection ended early
        self.waiter: asyncio.Future | None = None  # woken by the head, body data, the end or a failure
        self.paused = False
        self.in_flight = True  # a request was sent and its answer is not fully read
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.header_list: list[tuple[str, str]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.until_close = False  # a body without length or chunking: it ends when the connection does
        self.body: list[bytes] = []
        self.buffered = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.in_flight:  # bytes while idle: nothing was asked, the connection cannot be trusted
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx2.RemoteProtocolError(f"The upstream's answer is not valid HTTP: {exc}"))
            return
        if self.buffered > HIGH_WATER and not self.paused and not self.complete:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and self.until_close and not self.complete:
            self.complete = True  # the close ends such a body
            self._wake()
        elif not self.complete:
            if exc is None:
                self._fail(httpx2.RemoteProtocolError("Server disconnected before the answer was complete."))
            else:
                self._fail(httpx2.ReadError(str(exc) or type(exc).__name__))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return  # bytes after the answer (see on_body)
        self.header_list.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        if self.complete:
            self.keep_alive = False  # bytes after the answer (see on_body)
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self.header_list = []
            return
        self.status = status
        self.head_done = True
        if status not in (204, 304):
            names = {name.lower() for name, _ in self.header_list}
            self.until_close = "content-length" not in names and "transfer-encoding" not in names
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:  # more than the answer held: the connection cannot be trusted again
            self.keep_alive = False
            return
        self.body.append(body)
        self.buffered += len(body)
        self._wake()

    def on_message_complete(self) -> None:
        if not self.head_done or self.complete:
            return  # the end of an interim answer, or of bytes after the answer (see on_body)
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # (llhttp forgets it once this returns)
        self._wake()

    # for the transport and the response

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self.failure is None:
            self.failure = exc
        self.close()
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def wait(self, timeout: float | None) -> None:
        """Wait until something arrives (head, body, end) or the connection fails."""
        if self.failure is not None:
            raise self.failure
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        expiry = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            self.close()
            raise httpx2.ReadTimeout("Timed out waiting for the upstream's answer.") from None
        finally:
            if expiry is not None:
                expiry.cancel()
        if self.failure is not None:
            raise self.failure

    def take_body(self) -> bytes:
        body = self.body
        data = body[0] if len(body) == 1 else b"".join(body)
        self.body = []
        self.buffered = 0
        return data

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self.failure is None

    def ready_for_next(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.in_flight = False
        self._reset()


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Pool:
    """Idle connections by (host, port, TLS, server name), and a cap on how many are open."""

    def __init__(self, limit: int, keepalive_expiry: float) -> None:
        self.limit = limit
        self.keepalive_expiry = keepalive_expiry
        self.idle: dict[tuple, deque[_Connection]] = {}
        self.open = 0
        self.busy: set[_Connection] = set()
        self.waiters: deque[asyncio.Future] = deque()

    def take_idle(self, key: tuple, now: float) -> _Connection | None:
        idle = self.idle.get(key)
        while idle:
            connection = idle.pop()
            if (
                connection.closed
                or connection.transport.is_closing()
                or now - connection.idle_since > self.keepalive_expiry
            ):
                self.forget(connection)
                connection.close()
                continue
            self.busy.add(connection)
            connection.in_flight = True
            return connection
        return None

    def close_one_idle(self) -> bool:
        """Close the oldest idle connection of any key, to make room under the limit."""
        for idle in self.idle.values():
            if idle:
                connection = idle.popleft()
                self.forget(connection)
                connection.close()
                return True
        return False

    def give_back(self, connection: _Connection, now: float) -> None:
        self.busy.discard(connection)
        if connection.reusable():
            connection.ready_for_next()
            connection.idle_since = now
            self.idle.setdefault(connection.key, deque()).append(connection)
            self._wake_waiter()
        else:
            connection.close()
            self.forget(connection)

    def forget(self, connection: _Connection) -> None:
        """`connection` no longer counts against the limit (closed)."""
        if connection.key is not None:
            connection.key = None  # counted once
            self.open -= 1
            self._wake_waiter()

    def _wake_waiter(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class H1Transport:
    """Direct HTTP/1.1 requests (see the module docstring); `ssl_context` replaces the system's
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
        self.max_connections = max_connections
        self.limits = _Limits(max_body_bytes, max_line_bytes, max_stream_bytes)
        self.ssl_context = ssl_context
        self._pool = _Pool(max_connections, keepalive_expiry)
        self._targets: dict[str, _Target] = {}

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

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _Target(url)
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
        return H1Response(self, connection, self.limits, timeout.read)

    async def _connect(self, target: _Target, key: tuple, timeout: Timeout, server_hostname: str | None) -> _Connection:
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

    async def _open(
        self, target: _Target, key: tuple, connect: float | None, server_hostname: str | None
    ) -> _Connection:
        context: ssl.SSLContext | None = None
        if target.secure:
            context = self.ssl_context or _default_ssl_context()
        loop = asyncio.get_running_loop()
        opening = loop.create_connection(
            lambda: _Connection(key),
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
    method: str, target: _Target, headers: Mapping[str, str], content: bytes | None, params: Mapping[str, Any] | None
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


class _Limits:
    __slots__ = ("body", "line", "stream")

    def __init__(self, body: int, line: int, stream: int) -> None:
        self.body, self.line, self.stream = body, line, stream


class _Decoder:
    """Inflates a `gzip` or `deflate` body in bounded pieces (a zlib stream or, as some servers send
    for `deflate`, a raw one)."""

    def __init__(self, encoding: str) -> None:
        self.gzip = encoding in ("gzip", "x-gzip")
        self.inflate = zlib.decompressobj(31 if self.gzip else 15)
        self.started = False

    def decode(self, data: bytes, room: int) -> bytes:
        """Up to `room` + 1 bytes inflated from `data` (more than `room`: the caller's cap is passed)."""
        if not self.started and data:
            self.started = True
            if not self.gzip and (data[0] & 0x0F) != 8:  # no zlib header: raw deflate
                self.inflate = zlib.decompressobj(-15)
        try:
            return self.inflate.decompress(data, room + 1)
        except zlib.error as exc:
            raise httpx2.DecodingError(f"The upstream's answer could not be decoded: {exc}") from None

    def flush(self) -> bytes:
        try:
            return self.inflate.flush()
        except zlib.error as exc:
            raise httpx2.DecodingError(f"The upstream's answer could not be decoded: {exc}") from None


class H1Response:
    """An answer read from one pooled connection, as an `UpstreamResponse`."""

    __slots__ = ("_transport", "_connection", "_limits", "_read_timeout", "_decoder", "status_code", "headers")
    __slots__ += ("content", "_released")

    def __init__(self, transport: H1Transport, connection: _Connection, limits: _Limits, read_timeout) -> None:
        self._transport = transport
        self._connection = connection
        self._limits = limits
        self._read_timeout = read_timeout
        self.status_code = connection.status
        self.headers = CIMultiDictProxy(CIMultiDict(connection.header_list))
        self.content = b""
        self._released = False
        encoding = self.headers.get("content-encoding", "").strip().lower()
        self._decoder = _Decoder(encoding) if encoding in ("gzip", "x-gzip", "deflate") else None

    @property
    def charset(self) -> str | None:
        content_type = self.headers.get("content-type", "")
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset":
                value = value.strip().strip('"')
                try:
                    return codecs.lookup(value).name if value else None
                except LookupError:
                    return None
        return None

    @property
    def text(self) -> str:
        return self.content.decode(self.charset or "utf-8", errors="replace")

    def release(self) -> None:
        """Give the connection back (kept if the answer was read to the end, else closed)."""
        if not self._released:
            self._released = True
            self._transport._pool.give_back(self._connection, asyncio.get_running_loop().time())

    def _too_large(self, what: str, limit: int) -> errors.UpstreamResponseTooLarge:
        self._connection.close()  # the rest is never read: drop the connection rather than drain it
        return errors.UpstreamResponseTooLarge(f"The provider's {what} is larger than the {limit} bytes accepted.")

    async def _pieces(self, limit: int, what: str) -> AsyncIterator[bytes]:
        """The decoded body as it arrives, `limit` bytes at most (then UpstreamResponseTooLarge):
        all that is buffered at once, then one wait at a time, before which a stream relay's
        `BEFORE_UPSTREAM_WAIT` runs."""
        connection, decoder, size = self._connection, self._decoder, 0
        while True:
            if connection.buffered:
                data = connection.take_body()
                if decoder is not None:
                    data = decoder.decode(data, limit - size)
                size += len(data)
                if size > limit:
                    raise self._too_large(what, limit)
                if data:
                    yield data
                continue
            if connection.complete:
                if decoder is not None:
                    data = decoder.flush()
                    size += len(data)
                    if size > limit:
                        raise self._too_large(what, limit)
                    if data:
                        yield data
                return
            before_wait = BEFORE_UPSTREAM_WAIT.get()
            if before_wait is not None:
                await before_wait()
            await connection.wait(self._read_timeout)

    async def aread(self) -> bytes:
        limit = self._limits.body
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit and self._decoder is None:
            raise self._too_large("answer", limit)
        chunks = [chunk async for chunk in self._pieces(limit, "answer")]
        self.content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.content

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return self._pieces(UNLIMITED, "answer")

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The lines of `aiter_line_batches`, one by one."""
        async for lines in self.aiter_line_batches():
            for line in lines:
                yield line

    def aiter_line_batches(self) -> AsyncIterator[list[str]]:
        max_line = self._limits.line
        pieces = self._pieces(self._limits.stream, "stream")
        return line_batches(pieces, self.charset, max_line, lambda: self._too_large("stream line", max_line))
