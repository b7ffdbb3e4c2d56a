"""Channels consumers for images and audio.

- `POST /v1/images/generations`, `POST /api/{provider}/images/generations`
- `POST /v1/audio/transcriptions` (multipart), `POST /v1/audio/speech` (and their `/api/{provider}/` twins)

Each validates, routes by capability (`image`, `transcription`, `speech`) through the catalogue
snapshot and fails over (`completions.routing.failover.call_capability`). Uploads are authenticated and their
content type checked before the body is read, and the body is cut off at its limit while reading.
"""

import time

from completions.media import audio, images
from completions import errors
from completions.routing import failover
from completions.auth import ANONYMOUS
from completions.http.consumer import GatewayHttpConsumer
from completions.media.store import public_base_url
from completions.http.multipart import MULTIPART_OVERHEAD, MultipartBodyMixin, parse_form
from completions.routing.plan import RoutePlan, plan_request
from completions.usage import usage_recorder
from g4fsite.conf import gateway_settings

TEXT = (b"content-type", b"text/plain; charset=utf-8")


class CapabilityConsumer(GatewayHttpConsumer):
    """Shared by the upstream-bound endpoints here: routing by capability and usage records."""

    endpoint = ""
    capability = ""
    caller = ANONYMOUS
    model = ""
    plan: RoutePlan | None = None

    def url_provider(self) -> str:
        return self.scope.get("url_route", {}).get("kwargs", {}).get("provider", "")

    async def serve(self, body: bytes) -> None:
        self.started = time.monotonic()
        self.attempts = failover.Attempts()
        self.caller = await self.authenticate()
        try:
            await self.answer(body)
        except errors.GatewayError as exc:
            self.record(success=False, status=exc.status_code, error=exc.message)
            raise

    async def answer(self, body: bytes) -> None:
        raise NotImplementedError

    async def route(self, *, model: str, provider: str) -> RoutePlan:
        self.model = model
        self.plan = plan_request(
            self.snapshot,
            model_name=model,
            provider_name=provider,
            needed=frozenset({self.capability}),
            ignored=frozenset(name.lower() for name in gateway_settings.IGNORED_PROVIDERS),
        )
        return self.plan

    async def on_disconnect(self) -> None:
        if getattr(self, "started", None) is not None:
            self.record(success=False, status=499, error="The client disconnected.")

    def record(self, *, success: bool, status: int, provider: str = "", error: str = "") -> None:
        usage_recorder.record(
            api_key_id=self.caller.key_id,
            endpoint=self.endpoint,
            model=self.plan.model if self.plan else self.model,
            provider=provider,
            success=success,
            status_code=status,
            attempts=len(self.attempts) or 1,
            latency_ms=(time.monotonic() - self.started) * 1000,
            stream=False,
            error=error[:500],
        )

    def provider_header(self, provider: str) -> tuple[bytes, bytes]:
        return (b"x-provider", provider.encode())


class ImageGenerationsConsumer(CapabilityConsumer):
    endpoint = "images"
    capability = "image"

    async def answer(self, body: bytes) -> None:
        request = images.ImageRequest.parse(body, provider=self.url_provider())
        plan = await self.route(model=request.model, provider=request.provider)
        base_url = public_base_url(self.scope, self.headers)

        async def call(adapter, target):
            return await images.generate(adapter, target, request, base_url)

        result, route = await failover.call_capability(plan, self.attempts, call)
        provider = route.provider.name
        await self.send_json(200, {**result, "model": plan.model, "provider": provider}, [self.provider_header(provider)])
        self.record(success=True, status=200, provider=provider)


class TranscriptionsConsumer(MultipartBodyMixin, CapabilityConsumer):
    endpoint = "transcriptions"
    capability = "transcription"

    def body_limit(self) -> int:
        return gateway_settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD

    async def answer(self, body: bytes) -> None:
        form = parse_form(body, self.headers.get("content-type", ""))
        request = audio.TranscriptionRequest.from_form(form, provider=self.url_provider())
        plan = await self.route(model=request.model, provider=request.provider)

        async def call(adapter, target):
            return await audio.transcribe(adapter, target, request)

        result, route = await failover.call_capability(plan, self.attempts, call)
        provider = route.provider.name
        if isinstance(result, str):
            headers = [TEXT, self.provider_header(provider), *self.extra_headers]
            await self.send_response(200, result.encode("utf-8"), headers=headers)
        else:
            await self.send_json(200, result, [self.provider_header(provider)])
        self.record(success=True, status=200, provider=provider)


class SpeechConsumer(CapabilityConsumer):
    endpoint = "speech"
    capability = "speech"

    async def answer(self, body: bytes) -> None:
        request = audio.SpeechRequest.parse(body, provider=self.url_provider())
        plan = await self.route(model=request.model, provider=request.provider)

        async def call(adapter, target):
            return await audio.speak(adapter, target, request)

        result, route = await failover.call_capability(plan, self.attempts, call)
        provider = route.provider.name
        headers = [(b"content-type", result.content_type.encode()), self.provider_header(provider), *self.extra_headers]
        await self.send_response(200, result.audio, headers=headers)
        self.record(success=True, status=200, provider=provider)
