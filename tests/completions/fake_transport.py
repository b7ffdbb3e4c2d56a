"""An in-memory `UpstreamTransport` for unit tests: the interface production's aiohttp transport
implements (`completions.upstream.transport`), answered by a handler instead of the network.

A handler takes the `SentRequest` and returns a `Reply` (or awaits one, or raises an httpx2
transport error to play a failure). Every request is recorded, in order, in `transport.requests`;
Anthropic and Gemini bodies are checked against the official SDKs' types (tests/fake_upstream/sdk_types.py).
"""

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from completions.upstream.transport import Timeout
from tests.fake_upstream import sdk_types


@dataclass(frozen=True)
class SentRequest:
    """One request as the transport was asked to send it (`url` with `params` already in its query)."""

    method: str
    url: URL
    headers: CIMultiDictProxy[str]
    content: bytes
    timeout: Timeout
    server_hostname: str | None

    def json(self) -> Any:
        return orjson.loads(self.content)


@dataclass(frozen=True)
class Reply:
    """A canned answer: `json`, or `content` sent whole, or `chunks` sent one by one."""

    status: int = 200
    json: Any = None
    content: bytes = b""
    chunks: Sequence[bytes] | Callable[[], AsyncIterator[bytes]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> "FakeResponse":
        headers = CIMultiDict(self.headers)
        if self.json is not None:
            headers.setdefault("content-type", "application/json")
            return FakeResponse(self.status, headers, [orjson.dumps(self.json)])
        if self.chunks:
            return FakeResponse(self.status, headers, self.chunks)
        return FakeResponse(self.status, headers, [self.content])


def sse_reply(text: str) -> Reply:
    return Reply(200, content=text.encode(), headers={"content-type": "text/event-stream"})


class FakeResponse:
    """An `UpstreamResponse` over in-memory chunks; its body can be consumed once, like a real one."""

    def __init__(self, status: int, headers: CIMultiDict, chunks: Sequence[bytes] | Callable) -> None:
        self.status_code = status
        self.headers = CIMultiDictProxy(headers)
        self.content = b""
        self._chunks = chunks
        self._consumed = False

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    async def aread(self) -> bytes:
        self.content = b"".join([chunk async for chunk in self.aiter_bytes()])
        return self.content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        assert not self._consumed, "the body of a response can be read once"
        self._consumed = True
        if callable(self._chunks):
            async for chunk in self._chunks():
                yield chunk
        else:
            for chunk in self._chunks:
                yield chunk

    async def aiter_line_batches(self) -> AsyncIterator[list[str]]:
        """All the lines at once, split as Server-Sent Events are (CRLF, LF or CR)."""
        text = (await self.aread()).decode("utf-8", errors="replace")
        lines = re.split(r"\r\n|\r|\n", text)
        if lines[-1] == "":  # the body ended with a line ending: no unterminated last line
            lines.pop()
        if lines:
            yield lines


Handler = Callable[[SentRequest], Reply | Awaitable[Reply]]


class FakeTransport:
    """An `UpstreamTransport` that records each request and answers with `handler(request)`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[SentRequest] = []

    async def fetch(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        async with self.stream(method, url, **kwargs) as response:
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
        params: Mapping[str, Any] | None = None,
        timeout: Timeout,
        server_hostname: str | None = None,
    ) -> AsyncIterator[FakeResponse]:
        full_url = URL(url).extend_query(params) if params else URL(url)
        request = SentRequest(
            method, full_url, CIMultiDictProxy(CIMultiDict(headers)), content or b"", timeout, server_hostname
        )
        self.requests.append(request)
        _check_sdk_types(request)
        reply = self.handler(request)
        if asyncio.iscoroutine(reply):
            reply = await reply
        yield reply.response()


def _check_sdk_types(request: SentRequest) -> None:
    """Fail the test when an Anthropic or Gemini body is not what the official SDK's types allow."""
    path = request.url.path
    if request.method != "POST" or not request.content:
        return
    if path.endswith("/v1/messages"):
        problem = sdk_types.anthropic_problem(request.json())
    elif path.endswith((":generateContent", ":streamGenerateContent")):
        problem = sdk_types.gemini_problem(request.json())
    else:
        return
    assert problem is None, f"{path}: the body does not match the SDK's types: {problem}"


def replying(*replies: Reply) -> FakeTransport:
    """A transport answering its n-th request with the n-th reply (the last one once they run out)."""
    transport = FakeTransport(lambda request: replies[min(len(transport.requests), len(replies)) - 1])
    return transport
