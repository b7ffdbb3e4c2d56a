"""The contract every upstream protocol adapter implements: `Adapter`, `UpstreamTarget`, `SpeechResult`.

An adapter speaks one upstream *protocol* (OpenAI-compatible, Anthropic, Gemini, ...) and translates
both ways between it and the OpenAI API the gateway serves. Vendors are catalogue rows, not classes:
the catalogue names a protocol, the registry (`completions.upstream.adapters.adapter_for`) returns its adapter.

Adapters are instances holding the shared pooled `UpstreamTransport` (`completions.upstream.transport`),
injected: production hands in the aiohttp transport, unit tests an in-memory fake of the same
interface. They keep no mutable state of their own. Error statuses and transport failures become
gateway errors through `completions.upstream.status`; streams are parsed by `completions.upstream.sse`.
"""

import contextlib
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from completions import errors
from completions.upstream.client import provider_slots
from completions.upstream.form_data import encode_form_data
from completions.upstream.status import (
    TRANSLATED_ERRORS,
    raise_for_upstream_status,
    translate_errors,
    translated_error,
)
from completions.upstream.transport import Timeout, UpstreamResponse, UpstreamTransport
from g4fsite.conf import gateway_settings

_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|cookie|session", re.IGNORECASE)


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
    # OpenAI-compatible streams: ask for usage with `stream_options` (the catalogue's `sends_stream_options`).
    stream_options: bool = True

    def cookie_header(self) -> str:
        """The `Cookie` header for the uploaded cookies matched to this provider ("" when none)."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def secrets(self) -> Iterator[str]:
        """The values no upstream message may carry out of the gateway: the credential, the cookie
        values and credential-like header values (`completions.upstream.status.redact`)."""
        yield self.api_key
        yield from self.cookies.values()
        for name, value in self.headers.items():
            if _CREDENTIAL_HEADER.search(name):
                yield value

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request_timeout(self) -> Timeout:
        """The provider's timeout for each wait, connecting bounded by `G4F["CONNECT_TIMEOUT"]`."""
        return Timeout(self.timeout, connect=min(self.timeout, gateway_settings.CONNECT_TIMEOUT))


@dataclass(frozen=True, slots=True)
class SpeechResult:
    audio: bytes
    content_type: str


class Adapter:
    """One upstream protocol. Subclasses set `protocol` and implement the capabilities they have.

    Chat payloads are OpenAI `CreateChatCompletionRequest` dicts already validated by the gateway,
    with `model` set to the upstream model name and gateway-only fields removed. Every method raises
    a `completions.errors.GatewayError` subclass on failure (see `completions.upstream.status`).
    """

    protocol: ClassVar[str] = ""

    def __init__(self, client: UpstreamTransport) -> None:
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

    async def embeddings(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        """Return `{"data": [{"index", "embedding"}], "usage"?}` for an OpenAI `CreateEmbeddingRequest`
        payload; each embedding is a list of floats, or the base64 the payload's `encoding_format` asked for."""
        raise self.unsupported("embeddings")

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
        self,
        target: UpstreamTarget,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> UpstreamResponse:
        """One upstream request to `path` (under the base URL, or an absolute URL), with `json` as the
        body, or the form of `data` fields and `files` (name -> (file name, bytes, content type));
        returns the response, raising a gateway error for a transport failure or error status."""
        headers = self.headers(target)
        content = None
        if json is not None:
            content = orjson.dumps(json)
        elif files is not None:
            content, headers["content-type"] = encode_form_data(data or {}, files)
        else:
            headers.pop("content-type", None)
        if not _same_host(target, path):
            headers.pop("cookie", None)  # cookies were matched to the provider's host, not this one
        slots = provider_slots(target.provider)
        if not slots.try_acquire():
            await slots.acquire(target.timeout)
        try:
            response = await self.client.fetch(
                method,
                _url(target, path),
                headers=headers,
                content=content,
                params=params,
                timeout=target.request_timeout(),
            )
            self.raise_for_status(response)
        except TRANSLATED_ERRORS as exc:  # `translate_errors`, without its frame
            error = translated_error(exc, target.secrets())
            if error is exc:
                raise
            raise error from exc
        finally:
            slots.release()
        return response

    @contextlib.asynccontextmanager
    async def open_stream(
        self, target: UpstreamTarget, path: str, body: Any, *, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamResponse]:
        """POST `body` and yield the streamed response once its status is known to be good; transport
        errors while the caller reads it are translated too, and upstream words redacted. The stream
        holds one of the provider's request slots until it is closed."""
        slots = provider_slots(target.provider)
        if not slots.try_acquire():
            await slots.acquire(target.timeout)
        try:
            with translate_errors(target.secrets()):
                async with self.client.stream(
                    "POST",
                    _url(target, path),
                    headers=self.headers(target),
                    content=orjson.dumps(body),
                    params=params,
                    timeout=target.request_timeout(),
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        self.raise_for_status(response)
                    yield response
        finally:
            slots.release()

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
    return urlsplit(path).hostname == urlsplit(target.base_url).hostname
