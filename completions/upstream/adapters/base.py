"""The base class every upstream protocol adapter implements.

An adapter speaks one upstream *protocol* (OpenAI-compatible, Anthropic, Gemini, ...) and translates
both ways between it and the OpenAI API the gateway serves. Vendors are catalogue rows, not classes:
the catalogue names a protocol, the registry (`completions.upstream.adapters.adapter_for`) returns its adapter.

Adapters are instances holding the shared pooled `httpx2.AsyncClient`, injected so a unit test can hand
in one with a `MockTransport`. They keep no mutable state of their own. With the production client
(`completions.upstream.client.UpstreamClient`) requests skip httpx2's objects and go straight to aiohttp;
responses then are `DirectResponse`s, which have the attributes of `httpx2.Response` read here.
"""

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, ClassVar

import httpx2
import orjson

from completions import errors
from completions.upstream.transport import DirectResponse
from g4fsite.conf import gateway_settings

# What `Adapter.send` returns: an httpx2 response, or the direct path's look-alike.
UpstreamResponse = httpx2.Response | DirectResponse


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """Where and how to send one upstream request: a provider row resolved for one model."""

    provider: str
    base_url: str
    upstream_model: str
    api_key: str = ""
    timeout: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)

    def cookie_header(self) -> str:
        """The `Cookie` header for the uploaded cookies matched to this provider ("" when none)."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def httpx_timeout(self) -> httpx2.Timeout:
        return httpx2.Timeout(self.timeout, connect=min(self.timeout, gateway_settings.CONNECT_TIMEOUT))


@dataclass(frozen=True, slots=True)
class SpeechResult:
    audio: bytes
    content_type: str


class Adapter:
    """One upstream protocol. Subclasses set `protocol` and implement the capabilities they have.

    Chat payloads are OpenAI `CreateChatCompletionRequest` dicts already validated by the gateway,
    with `model` set to the upstream model name and gateway-only fields removed. Every method raises
    a `completions.errors.GatewayError` subclass on failure (see `translate_errors`).
    """

    protocol: ClassVar[str] = ""

    def __init__(self, client: httpx2.AsyncClient) -> None:
        self.client = client

    async def chat(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        """Return an OpenAI `chat.completion` dict (the gateway sets `model` and `provider`)."""
        raise self.unsupported("chat")

    def chat_stream(self, target: UpstreamTarget, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Yield OpenAI `chat.completion.chunk` dicts; the last carries `finish_reason` (and may carry
        `usage`). A stream that ends without a finish reason raises `UpstreamMalformed`."""
        raise self.unsupported("streaming chat")

    async def list_models(self, target: UpstreamTarget) -> list[dict[str, Any]]:
        """Return the upstream's models as dicts with at least `id`."""
        raise self.unsupported("model listing")

    async def images(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        """Return `{"created", "data": [{"url"} | {"b64_json"}]}` (upstream URLs, not yet stored)."""
        raise self.unsupported("image generation")

    async def transcription(
        self, target: UpstreamTarget, file: tuple[str, bytes, str], payload: dict[str, Any]
    ) -> dict[str, Any] | str:
        """Return the transcription: a dict for json formats, text for text/srt/vtt."""
        raise self.unsupported("transcription")

    async def speech(self, target: UpstreamTarget, payload: dict[str, Any]) -> SpeechResult:
        """Return the synthesized audio and its content type."""
        raise self.unsupported("speech")

    async def probe(self, target: UpstreamTarget) -> None:
        """Send one cheap request that proves the provider answers; raise if it does not."""
        await self.list_models(target)

    def headers(self, target: UpstreamTarget) -> dict[str, str]:
        """Headers for every request to the upstream; protocols add their credential."""
        return {"content-type": "application/json", **target.headers}

    def raise_for_status(self, response: UpstreamResponse) -> None:
        """Raise the gateway error for an upstream error status; protocols read their own error bodies."""
        raise_for_upstream_status(response)

    async def send(
        self, target: UpstreamTarget, method: str, path: str, *, json: Any = None, **kwargs: Any
    ) -> UpstreamResponse:
        """One upstream request to `path` (under the base URL, or an absolute URL), with `json` as the
        body; returns the response, raising a gateway error for a transport failure or error status."""
        headers = self.headers(target)
        if json is None:
            headers.pop("content-type", None)
        else:
            kwargs["content"] = orjson.dumps(json)
        if not _same_host(target, path):
            headers.pop("cookie", None)  # cookies were matched to the provider's host, not this one
        direct = getattr(self.client, "direct", None)
        with translate_errors():
            if direct is not None and not kwargs.keys() - {"content", "params"}:
                response = await direct.fetch(
                    method, _url(target, path), headers=headers, timeout=target.httpx_timeout(), **kwargs
                )
            else:  # multipart bodies, and clients with other transports (unit tests' MockTransport)
                response = await self.client.request(
                    method, _url(target, path), headers=headers, timeout=target.httpx_timeout(), **kwargs
                )
        self.raise_for_status(response)
        return response

    @contextlib.asynccontextmanager
    async def open_stream(
        self, target: UpstreamTarget, path: str, body: Any, **kwargs: Any
    ) -> AsyncIterator[UpstreamResponse]:
        """POST `body` and yield the streamed response once its status is known to be good; transport
        errors while the caller reads it are translated too."""
        direct = getattr(self.client, "direct", None)
        with translate_errors():
            async with (direct or self.client).stream(
                "POST",
                _url(target, path),
                content=orjson.dumps(body),
                headers=self.headers(target),
                timeout=target.httpx_timeout(),
                **kwargs,
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self.raise_for_status(response)
                yield response

    def unsupported(self, capability: str) -> errors.UnsupportedCapability:
        return errors.UnsupportedCapability(f"The '{self.protocol}' protocol does not support {capability}.")

    @staticmethod
    def read_json(response: UpstreamResponse) -> Any:
        """Parse an upstream JSON body, raising UpstreamMalformed when it is not JSON."""
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise errors.UpstreamMalformed("The provider answered with malformed JSON.") from exc


def _url(target: UpstreamTarget, path: str) -> str:
    return path if path.startswith(("http://", "https://")) else target.url(path)


def _same_host(target: UpstreamTarget, path: str) -> bool:
    if not path.startswith(("http://", "https://")):
        return True
    return httpx2.URL(path).host == httpx2.URL(target.base_url).host


def upstream_error_message(response: UpstreamResponse) -> str:
    """The most useful message from an upstream error body, whatever its protocol's shape."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text.strip()
        return text[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            if message:
                return str(message)[:500]
        elif isinstance(error, str):
            return error[:500]
        if isinstance(body.get("detail"), str):
            return body["detail"][:500]
    if isinstance(body, list) and body and isinstance(body[0], dict) and isinstance(body[0].get("error"), dict):
        return str(body[0]["error"].get("message", ""))[:500] or f"HTTP {response.status_code}"
    return f"HTTP {response.status_code}"


def raise_for_upstream_status(response: UpstreamResponse) -> None:
    """Raise the gateway error that matches an upstream error status (a no-op on 2xx)."""
    status = response.status_code
    if status < 400:
        return
    message = f"HTTP {status}: {upstream_error_message(response)}"
    if status in (400, 413, 422):
        raise errors.UpstreamBadRequest(message)
    if status in (401, 403):
        raise errors.UpstreamAuthFailed(message)
    if status == 429:
        raise errors.RateLimited(message, retry_after=_retry_after(response))
    if status in (408, 504):
        raise errors.UpstreamTimeout(message)
    raise errors.ProviderError(message)


def _retry_after(response: UpstreamResponse) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from datetime import datetime
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn httpx2 transport errors into the most specific gateway error, `from` the original."""
    try:
        yield
    except httpx2.TimeoutException as exc:
        raise errors.UpstreamTimeout(f"The provider did not answer in time ({type(exc).__name__}).") from exc
    except httpx2.RemoteProtocolError as exc:
        raise errors.ProviderDisconnected(f"The provider closed the connection: {exc}") from exc
    except (httpx2.NetworkError, httpx2.ProxyError) as exc:
        raise errors.ProviderUnreachable(f"The provider could not be reached: {exc or type(exc).__name__}") from exc
    except httpx2.HTTPError as exc:
        raise errors.ProviderError(f"Upstream HTTP error: {exc or type(exc).__name__}") from exc


def _line_batches(response: UpstreamResponse) -> AsyncIterator[list[str]]:
    """The response's lines in batches: as received on the direct path, one by one through httpx2."""
    batches = getattr(response, "aiter_line_batches", None)
    return batches() if batches is not None else _one_line_batches(response)


async def _one_line_batches(response: UpstreamResponse) -> AsyncIterator[list[str]]:
    async for line in response.aiter_lines():
        yield [line]


async def iter_sse_data(response: UpstreamResponse) -> AsyncIterator[str]:
    """Yield the `data:` payloads of a Server-Sent Events response, one per event."""
    data: list[str] = []
    async for lines in _line_batches(response):
        for line in lines:
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
    if data:
        yield "\n".join(data)


async def iter_sse_events(response: UpstreamResponse) -> AsyncIterator[tuple[str, str]]:
    """Yield `(event, data)` pairs of a Server-Sent Events response (event defaults to "message")."""
    event, data = "message", []
    async for lines in _line_batches(response):
        for line in lines:
            if not line:
                if data:
                    yield event, "\n".join(data)
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
    if data:
        yield event, "\n".join(data)
