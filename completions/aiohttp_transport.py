"""An httpx2 transport that sends requests with aiohttp.

The adapters speak httpx2's API (requests, responses, exceptions, `MockTransport` in unit tests);
underneath, the bytes go through aiohttp's connection pool, which costs about a third of httpcore2's
CPU per request (bench/results/PROFILE.md). httpx2 keeps what it is good at: building requests,
decoding `content-encoding`, redirects (off for upstreams) and its exception types, which this
transport raises so `completions.adapters.base.translate_errors` works unchanged.

The session keeps no cookies (`DummyCookieJar`): one caller's `Set-Cookie` from an upstream must never
ride along on another caller's request.
"""

import asyncio
import weakref
from collections.abc import AsyncIterator

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
            # `aclose()`d: close its sockets then, quietly, as aiohttp's own `__del__` would noisily.
            weakref.finalize(self, _abandon, connector)
        return self._session

    def _timeout(self, request: httpx2.Request) -> aiohttp.ClientTimeout:
        timeouts = request.extensions.get("timeout") or {}
        key = (timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool"))
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
        except BaseException as exc:
            raise _translated(exc, request) from exc
        return httpx2.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_ResponseStream(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
        except BaseException as exc:
            raise _translated(exc, self.request) from exc

    async def aclose(self) -> None:
        self.response.release()


def _translated(exc: BaseException, request: httpx2.Request) -> BaseException:
    """The httpx2 exception for an aiohttp one (anything else, cancellation included, as it is)."""
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
    return exc
