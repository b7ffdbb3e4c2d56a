"""An httpx2 transport that sends requests with aiohttp, and a direct path around httpx2.

The adapters speak httpx2's API (requests, responses, exceptions, `MockTransport` in unit tests);
underneath, the bytes go through aiohttp's connection pool, which costs about a third of httpcore2's
CPU per request (bench/results/PROFILE.md). As a transport, httpx2 keeps what it is good at: building
requests, decoding `content-encoding`, redirects (off for upstreams) and its exception types, which
this transport raises so `completions.upstream.adapters.base.translate_errors` works unchanged.

The adapters' plain requests (`Adapter.send` / `Adapter.open_stream` without multipart bodies) skip
httpx2's request and response objects altogether: `fetch()` and `stream()` return a `DirectResponse`
with the few attributes the adapters read, and raise the same httpx2 exceptions. That is another
0.15-0.2 ms of CPU per request.

The session keeps no cookies (`DummyCookieJar`): one caller's `Set-Cookie` from an upstream must never
ride along on another caller's request.
"""

import asyncio
import codecs
import contextlib
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx2

# Headers aiohttp would add when httpx2's request lacks them; httpx2 always sets what it wants.
_SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """One aiohttp `ClientSession` (created lazily on the running loop) behind an httpx2 client."""

    def __init__(self, *, max_connections: int, keepalive_expiry: float = 30.0, proxy: str | None = None) -> None:
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.proxy = proxy or None
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple, aiohttp.ClientTimeout] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections, keepalive_timeout=self.keepalive_expiry, ttl_dns_cache=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # httpx2 decodes by content-encoding, as it does with httpcore2
                skip_auto_headers=_SKIP_AUTO_HEADERS,
                trust_env=False,
            )
            # A client dropped with its event loop (a test's loop, a server's at exit) is never
            # `aclose()`d: mark its pool closed then, without aiohttp's "Unclosed" reports. (On a loop
            # already closed, aiohttp cannot close the sockets; they go with the garbage collector.)
            weakref.finalize(self, _abandon, connector)
        return self._session

    def _timeout(self, request: httpx2.Request) -> aiohttp.ClientTimeout:
        timeouts = request.extensions.get("timeout") or {}
        return self._client_timeout((timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool")))

    def _client_timeout(self, key: tuple) -> aiohttp.ClientTimeout:
        """(connect, read, pool) seconds as aiohttp's timeout: pool wait + connect, connect, each read."""
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            timeout = aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)
            if len(self._timeouts) < 256:  # one per provider timeout in practice
                self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.content if isinstance(request.stream, httpx2.ByteStream) else await request.aread()
        try:
            response = await self._get_session().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                compress=False,
                proxy=self.proxy,
                timeout=self._timeout(request),
            )
        except _AIOHTTP_ERRORS as exc:
            raise _translated(exc, request) from exc
        return httpx2.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_ResponseStream(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
            request=request,
        )

    async def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        params: Any = None,
        timeout: httpx2.Timeout,
    ) -> "DirectResponse":
        """Send one request and read its whole answer, without httpx2 objects."""
        async with self.stream(
            method, url, headers=headers, content=content, params=params, timeout=timeout
        ) as response:
            await response.aread()
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        params: Any = None,
        timeout: httpx2.Timeout,
    ) -> AsyncIterator["DirectResponse"]:
        """Send one request; yield the response with its body still to be read (`aiter_lines`)."""
        try:
            response = await self._get_session().request(
                method,
                url,
                headers=headers,
                params=params,
                data=content,
                allow_redirects=False,
                proxy=self.proxy,
                timeout=self._client_timeout((timeout.connect, timeout.read, timeout.pool)),
                auto_decompress=True,
            )
        except _AIOHTTP_ERRORS as exc:
            raise _translated(exc, None) from exc
        try:
            yield DirectResponse(response)
        finally:
            response.release()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class DirectResponse:
    """An aiohttp response with the attributes of `httpx2.Response` that the adapters read."""

    __slots__ = ("_response", "status_code", "headers", "content")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers = response.headers  # case-insensitive, like httpx2's
        self.content = b""

    @property
    def text(self) -> str:
        return self.content.decode(self._response.charset or "utf-8", errors="replace")

    async def aread(self) -> bytes:
        try:
            self.content = await self._response.read()
        except _AIOHTTP_ERRORS as exc:
            raise _translated(exc, None) from exc
        return self.content

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines without their endings (split on CRLF, LF or CR, as Server-Sent Events are)."""
        async for lines in self.aiter_line_batches():
            for line in lines:
                yield line

    async def aiter_line_batches(self) -> AsyncIterator[list[str]]:
        """The body's lines (as `aiter_lines`), a list per piece received: a stream parser handles
        every event that arrived together in one step instead of crossing a generator per line."""
        decoder = codecs.getincrementaldecoder(self._response.charset or "utf-8")(errors="replace")
        pending = ""
        try:
            async for chunk in self._response.content.iter_any():
                text = pending + decoder.decode(chunk)
                lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                if text.endswith("\r"):  # maybe the first half of a CRLF: wait for the next chunk
                    lines[-2:] = [lines[-2] + "\r"]
                pending = lines.pop()
                if lines:
                    yield lines
        except _AIOHTTP_ERRORS as exc:
            raise _translated(exc, None) from exc
        pending += decoder.decode(b"", final=True)
        if pending.endswith("\r"):  # a last line ended by a lone CR (maybe an empty one)
            yield [pending[:-1]]
        elif pending:  # a last line without an ending
            yield [pending]


def _abandon(connector: aiohttp.BaseConnector) -> None:
    connector._close()  # the synchronous part of `close()`; safe on a closed or stopped loop


class _ResponseStream(httpx2.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx2.Request) -> None:
        self.response = response
        self.request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_any():
                yield chunk
        except _AIOHTTP_ERRORS as exc:
            raise _translated(exc, self.request) from exc

    async def aclose(self) -> None:
        self.response.release()


# What aiohttp raises for a failed request (a ValueError: a header or URL it cannot send).
_AIOHTTP_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)


def _translated(exc: BaseException, request: httpx2.Request | None) -> Exception:
    """The httpx2 exception for one of `_AIOHTTP_ERRORS`."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx2.ConnectTimeout(str(exc) or "connect timeout", request=request)
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's read timeouts subclass it
        return httpx2.ReadTimeout(str(exc) or "read timeout", request=request)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return httpx2.ProxyError(str(exc), request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx2.ConnectError(str(exc), request=request)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return httpx2.RemoteProtocolError(str(exc) or type(exc).__name__, request=request)
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ClientConnectionError)):
        return httpx2.ReadError(str(exc) or type(exc).__name__, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx2.InvalidURL(str(exc))
    if isinstance(exc, aiohttp.ClientError):
        return httpx2.TransportError(str(exc) or type(exc).__name__, request=request)
    return httpx2.LocalProtocolError(str(exc) or type(exc).__name__, request=request)
