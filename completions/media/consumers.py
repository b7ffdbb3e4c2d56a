"""Channels consumers for images and audio.

- `POST /v1/images/generations`, `POST /api/{provider}/images/generations`
- `POST /v1/audio/transcriptions` (multipart), `POST /v1/audio/speech` (and their `/api/{provider}/` twins)

The request lifecycle (auth, routing by capability with live health, failover, usage) is
`completions.http.lifecycle`'s; each endpoint here brings its parser, its capability call and its
answer. Uploads are authenticated and their content type checked before the body is read, and the
body is cut off at its limit while reading (`MultipartBodyMixin`).
"""

from collections.abc import Awaitable
from typing import Any

from catalogue.snapshot import Route
from completions.http.lifecycle import UpstreamConsumer
from completions.http.multipart import MULTIPART_OVERHEAD, MultipartBodyMixin, parse_form
from completions.media import audio, images
from completions.media.store import public_base_url
from completions.routing.failover import upstream_target
from completions.routing.plan import RoutePlan
from completions.upstream.adapters import Adapter
from g4fsite.conf import gateway_settings

TEXT = (b"content-type", b"text/plain; charset=utf-8")


class MediaConsumer(UpstreamConsumer):
    """What the media endpoints share: the provider named in the URL and the `x-provider` header."""

    def url_provider(self) -> str:
        return self.scope.get("url_route", {}).get("kwargs", {}).get("provider", "")

    def provider_header(self, provider: str) -> tuple[bytes, bytes]:
        return (b"x-provider", provider.encode())


class ImageGenerationsConsumer(MediaConsumer):
    endpoint = "images"
    needed = frozenset({"image"})
    base_url = ""

    async def parse(self, body: bytes) -> images.ImageRequest:
        self.base_url = public_base_url(self.scope, self.headers)
        return images.ImageRequest.parse(body, provider=self.url_provider())

    def attempt(self, adapter: Adapter, route: Route) -> Awaitable[images.GeneratedImages]:
        return images.generate(adapter, upstream_target(route), self.request)

    async def respond(self, result: images.GeneratedImages, provider: str, plan: RoutePlan) -> None:
        answer = await images.deliver(result, self.request, self.base_url)
        await self.send_json(
            200, {**answer, "model": plan.model, "provider": provider}, [self.provider_header(provider)]
        )


class TranscriptionsConsumer(MultipartBodyMixin, MediaConsumer):
    endpoint = "transcriptions"
    needed = frozenset({"transcription"})

    def body_limit(self) -> int:
        return gateway_settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD

    async def parse(self, body: bytes) -> audio.TranscriptionRequest:
        form = parse_form(body, self.headers.get("content-type", ""))
        return audio.TranscriptionRequest.from_form(form, provider=self.url_provider())

    def attempt(self, adapter: Adapter, route: Route) -> Awaitable[dict[str, Any] | str]:
        return audio.transcribe(adapter, upstream_target(route), self.request)

    async def respond(self, result: dict[str, Any] | str, provider: str, plan: RoutePlan) -> None:
        if isinstance(result, str):
            headers = [TEXT, self.provider_header(provider), *self.extra_headers]
            await self.send_response(200, result.encode("utf-8"), headers=headers)
        else:
            await self.send_json(200, result, [self.provider_header(provider)])


class SpeechConsumer(MediaConsumer):
    endpoint = "speech"
    needed = frozenset({"speech"})

    async def parse(self, body: bytes) -> audio.SpeechRequest:
        return audio.SpeechRequest.parse(body, provider=self.url_provider())

    def attempt(self, adapter: Adapter, route: Route) -> Awaitable[audio.SpeechResult]:
        return audio.speak(adapter, upstream_target(route), self.request)

    async def respond(self, result: audio.SpeechResult, provider: str, plan: RoutePlan) -> None:
        headers = [(b"content-type", result.content_type.encode()), self.provider_header(provider), *self.extra_headers]
        await self.send_response(200, result.audio, headers=headers)
