"""The one interface every upstream request goes through: `UpstreamTransport` and `UpstreamResponse`.

Adapters, the provider image downloads (`completions.media.images`) and the pinned fetch of client
image URLs (`completions.upstream.safe_fetch`) send requests only through these two protocols.
Production implements them twice, chosen by `completions.upstream.client.build_http_client`: direct
requests with `completions.upstream.h1.H1Transport` (HTTP/1.1 on httptools, for its CPU
cost per request), requests through an HTTP proxy with `aiohttp_transport.AiohttpTransport`; the
unit tests use an in-memory fake (`tests/completions/fake_transport.py`).

The contract, for every implementation:
- `url` is absolute; `params` are added to its query string; `headers` are sent as given (no
  cookies are kept between requests, no headers are added but `Host` and framing ones; the body's
  framing, `Content-Length` or chunks, is the transport's own);
- redirects are never followed: a 3xx is returned like any other status;
- `server_hostname` sets TLS SNI and certificate checks when the URL's host is an address;
- `timeout` is an `httpx2.Timeout`: `connect` bounds connecting, `read` each wait for data, `pool`
  the wait for a pooled connection plus connecting;
- failures raise `httpx2.TransportError` subclasses (`ConnectTimeout`, `ReadTimeout`, `ConnectError`,
  `ProxyError`, `RemoteProtocolError`, `ReadError`...), which `completions.upstream.status.translate_errors`
  turns into gateway errors. httpx2 provides only these value and exception types here: no httpx2
  client or transport is on the request path.
"""

import codecs
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import httpx2

Timeout = httpx2.Timeout

# Set by a consumer relaying a stream (`completions.http.lifecycle`): a streamed body's reader awaits it
# before it waits for more bytes from the upstream, so that the pieces made from what already arrived
# go to the client in one write rather than one write each.
BEFORE_UPSTREAM_WAIT: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "before_upstream_wait", default=None
)


class UpstreamResponse(Protocol):
    """An upstream answer. `content` is the body once read (`aread`, or `fetch` reads it); `stream`
    yields it unread, to be consumed once by `aread`, `aiter_bytes` or `aiter_line_batches`."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive
    content: bytes

    @property
    def text(self) -> str:
        """`content` decoded by the response's charset (UTF-8 when none), undecodable bytes replaced."""
        ...

    async def aread(self) -> bytes:
        """Read the whole body into `content` and return it."""
        ...

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body (decoded from any `content-encoding`) in the pieces it arrives in."""
        ...

    def aiter_line_batches(self) -> AsyncIterator[list[str]]:
        """The body's lines without their endings (split on CRLF, LF or CR, as Server-Sent Events
        are), a list per piece received, so a stream parser handles what arrived together at once."""
        ...


class UpstreamTransport(Protocol):
    """Sends upstream requests (see the module docstring for the contract both methods share)."""

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
    ) -> UpstreamResponse:
        """Send one request and return its answer with the body read."""
        ...

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
    ) -> contextlib.AbstractAsyncContextManager[UpstreamResponse]:
        """Send one request; the context yields its answer with the body still to be read, and
        releases the connection on exit (closing it when the body was not read to the end)."""
        ...


async def line_batches(
    pieces: AsyncIterator[bytes], charset: str | None, max_line: int, too_long: Callable[[], Exception]
) -> AsyncIterator[list[str]]:
    """`UpstreamResponse.aiter_line_batches` over a body's `pieces` (both transports): lines split
    on CRLF, LF or CR whatever the chunking, decoded by `charset`; `too_long()` is raised for a line
    longer than `max_line` characters."""
    decoder = codecs.getincrementaldecoder(charset or "utf-8")(errors="replace")
    pending = ""
    async for chunk in pieces:
        text = pending + decoder.decode(chunk)
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if text.endswith("\r"):  # maybe the first half of a CRLF: wait for the next chunk
            lines[-2:] = [lines[-2] + "\r"]
        pending = lines.pop()
        if len(text) > max_line and max(map(len, lines), default=0) > max_line or len(pending) > max_line:
            raise too_long()
        if lines:
            yield lines
    pending += decoder.decode(b"", final=True)
    if pending.endswith("\r"):  # a last line ended by a lone CR (maybe an empty one)
        yield [pending[:-1]]
    elif pending:  # a last line without an ending
        yield [pending]
