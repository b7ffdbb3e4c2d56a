"""`AiohttpTransport`: the production `UpstreamTransport`, one aiohttp connection pool per event loop.

aiohttp costs about a third of httpcore2's CPU per request (bench/results/PROFILE.md), and its answers
are read straight from aiohttp's objects (`AiohttpResponse`), without building any other request or
response objects on the way. aiohttp's exceptions become the httpx2 ones the interface promises
(`completions.upstream.transport`).

Every body is read under caps counted on the decompressed bytes, while reading (aiohttp inflates in
bounded pieces, so a small gzip answer that inflates to gigabytes is stopped at the cap, not after):
`max_body_bytes` for a body read whole (`aread`, `fetch`), `max_line_bytes` for one line of a stream
and `max_stream_bytes` for a whole stream read by lines. Past a cap the connection is closed and
`completions.errors.UpstreamResponseTooLarge` (502) raised.

The session keeps no cookies (`DummyCookieJar`): one caller's `Set-Cookie` from an upstream must never
ride along on another caller's request. Pooled connections are keyed by host, port, TLS settings,
proxy and `server_hostname`, so a pinned request (`safe_fetch`) never reuses a connection opened for
another name.
"""

import asyncio
import contextlib
import ssl
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx2

from completions import errors
from completions.upstream.transport import BEFORE_UPSTREAM_WAIT, Timeout, line_batches

UNLIMITED = 1 << 62

# Headers aiohttp would add on its own: a request carries the headers its caller chose and no others.
_SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})


class AiohttpTransport:
    """One aiohttp `ClientSession`, created lazily on the running loop; `ssl_context` replaces the
    system's trusted certificates (tests), `proxy` sends every request through that HTTP proxy; the
    `max_*_bytes` caps bound what an answer may hold (see the module docstring)."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float = 30.0,
        proxy: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_body_bytes: int = UNLIMITED,
        max_line_bytes: int = UNLIMITED,
        max_stream_bytes: int = UNLIMITED,
    ) -> None:
        self.max_connections = max_connections
        self.limits = _Limits(max_body_bytes, max_line_bytes, max_stream_bytes)
        self.keepalive_expiry = keepalive_expiry
        self.proxy = proxy or None
        self.ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple, aiohttp.ClientTimeout] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                keepalive_timeout=self.keepalive_expiry,
                ttl_dns_cache=60,
                ssl=self.ssl_context if self.ssl_context is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=_SKIP_AUTO_HEADERS,
                trust_env=False,
            )
            # A transport dropped with its event loop (a test's loop, a server's at exit) is never
            # `aclose()`d: mark its pool closed then, without aiohttp's "Unclosed" reports. (On a loop
            # already closed, aiohttp cannot close the sockets; they go with the garbage collector.)
            weakref.finalize(self, _abandon, connector)
        return self._session

    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        """(connect, read, pool) seconds as aiohttp's timeout: pool wait + connect, connect, each read."""
        key = (timeout.connect, timeout.read, timeout.pool)
        client_timeout = self._timeouts.get(key)
        if client_timeout is None:
            connect, read, pool = key
            client_timeout = aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)
            if len(self._timeouts) < 256:  # one per provider timeout in practice
                self._timeouts[key] = client_timeout
        return client_timeout

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
    ) -> "AiohttpResponse":
        """Send one request and read its whole answer."""
        response = await self._send(method, url, headers, content, params, timeout, server_hostname)
        try:
            answer = AiohttpResponse(response, self.limits)
            await answer.aread()
        finally:
            response.release()
        return answer

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: Timeout,
        server_hostname: str | None = None,
    ) -> AsyncIterator["AiohttpResponse"]:
        """Send one request; yield the response with its body still to be read."""
        response = await self._send(method, url, headers, content, params, timeout, server_hostname)
        try:
            yield AiohttpResponse(response, self.limits)
        finally:
            response.release()

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        params: Mapping[str, Any] | None,
        timeout: Timeout,
        server_hostname: str | None,
    ) -> aiohttp.ClientResponse:
        try:
            return await self._get_session().request(
                method,
                url,
                headers=headers,
                params=params,
                data=content,
                allow_redirects=False,
                proxy=self.proxy,
                timeout=self._client_timeout(timeout),
                server_hostname=server_hostname,
            )
        except _AIOHTTP_ERRORS as exc:
            raise _translated(exc) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "AiohttpTransport":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Limits:
    __slots__ = ("body", "line", "stream")

    def __init__(self, body: int, line: int, stream: int) -> None:
        self.body, self.line, self.stream = body, line, stream


class AiohttpResponse:
    """An aiohttp response as an `UpstreamResponse`, read under the transport's caps."""

    __slots__ = ("_response", "_limits", "status_code", "headers", "content")

    def __init__(self, response: aiohttp.ClientResponse, limits: _Limits | None = None) -> None:
        self._response = response
        self._limits = limits or _NO_LIMITS
        self.status_code = response.status
        self.headers = response.headers  # case-insensitive
        self.content = b""

    @property
    def text(self) -> str:
        return self.content.decode(self._response.charset or "utf-8", errors="replace")

    def _too_large(self, what: str, limit: int) -> errors.UpstreamResponseTooLarge:
        self._response.close()  # the rest is never read: drop the connection rather than drain it
        return errors.UpstreamResponseTooLarge(f"The provider's {what} is larger than the {limit} bytes accepted.")

    async def aread(self) -> bytes:
        limit = self._limits.body
        declared = self._response.content_length
        if declared is not None and declared > limit and not self._response.headers.get("content-encoding"):
            raise self._too_large("answer", limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in self._response.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise self._too_large("answer", limit)
                chunks.append(chunk)
        except _AIOHTTP_ERRORS as exc:
            raise _translated(exc) from exc
        self.content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives: all that is buffered at once, then one wait for more at a time,
        before which a stream relay's `BEFORE_UPSTREAM_WAIT` runs (outside the error translation)."""
        content = self._response.content
        while True:
            try:
                chunk = content.read_nowait()
            except _AIOHTTP_ERRORS as exc:
                raise _translated(exc) from exc
            if not chunk:
                if content.at_eof():
                    return
                before_wait = BEFORE_UPSTREAM_WAIT.get()
                if before_wait is not None:
                    await before_wait()
                try:
                    chunk = await content.readany()
                except _AIOHTTP_ERRORS as exc:
                    raise _translated(exc) from exc
                if not chunk:
                    return
            yield chunk

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The lines of `aiter_line_batches`, one by one."""
        async for lines in self.aiter_line_batches():
            for line in lines:
                yield line

    def aiter_line_batches(self) -> AsyncIterator[list[str]]:
        limits = self._limits
        return line_batches(
            self._counted(self.aiter_bytes(), limits.stream),
            self._response.charset,
            limits.line,
            lambda: self._too_large("stream line", limits.line),
        )

    async def _counted(self, pieces: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
        size = 0
        async for piece in pieces:
            size += len(piece)
            if size > limit:
                raise self._too_large("stream", limit)
            yield piece


_NO_LIMITS = _Limits(UNLIMITED, UNLIMITED, UNLIMITED)


def _abandon(connector: aiohttp.BaseConnector) -> None:
    connector._close()  # the synchronous part of `close()`; safe on a closed or stopped loop


# What aiohttp raises for a failed request (a ValueError: a header or URL it cannot send).
_AIOHTTP_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)


def _translated(exc: BaseException) -> Exception:
    """The httpx2 exception for one of `_AIOHTTP_ERRORS`."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx2.ConnectTimeout(str(exc) or "connect timeout")
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's read timeouts subclass it
        return httpx2.ReadTimeout(str(exc) or "read timeout")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return httpx2.ProxyError(str(exc))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx2.ConnectError(str(exc))
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return httpx2.RemoteProtocolError(str(exc) or type(exc).__name__)
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ClientConnectionError)):
        return httpx2.ReadError(str(exc) or type(exc).__name__)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx2.InvalidURL(str(exc))
    if isinstance(exc, aiohttp.ClientError):
        return httpx2.TransportError(str(exc) or type(exc).__name__)
    return httpx2.LocalProtocolError(str(exc) or type(exc).__name__)
