"""Channels consumers for images, audio and cookie upload.

- `POST /v1/images/generations`, `POST /api/{provider}/images/generations`
- `POST /v1/audio/transcriptions` (multipart), `POST /v1/audio/speech` (and their `/api/{provider}/` twins)
- `POST /v1/upload_cookies` (multipart `files`)

Each validates, routes by capability (`image`, `transcription`, `speech`) through the catalogue
snapshot and fails over (`completions.failover.call_capability`). Uploads are authenticated and their
content type checked before the body is read, and the body is cut off at its limit while reading.
"""

import itertools
import time
from typing import Any

from asgiref.sync import sync_to_async

from completions import audio, errors, failover, images
from completions.auth import ANONYMOUS
from completions.cookies import CookieEntry, cookies_parse, cookies_store
from completions.http_consumer import GatewayHttpConsumer
from completions.media import public_base_url
from completions.multipart import boundary_of, parse_form
from completions.routing import RoutePlan, plan_request
from completions.usage import usage_recorder
from g4fsite.conf import gateway_settings

MULTIPART_OVERHEAD = 64 * 1024  # room for the form's other fields and part headers
MAX_COOKIE_FILES = 10
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


class MultipartBodyMixin:
    """Authenticate and check the content type first, then read at most `body_limit()` bytes."""

    def body_limit(self) -> int:
        raise NotImplementedError

    async def read_body(self) -> bytes:
        self.caller = await self.authenticate()
        boundary_of(self.headers.get("content-type", ""))
        return await self.receive_body(self.body_limit(), "The upload")


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


class UploadCookiesConsumer(MultipartBodyMixin, GatewayHttpConsumer):
    """Every file is parsed and checked before anything is stored; then all are stored at once."""

    def body_limit(self) -> int:
        return gateway_settings.COOKIE_MAX_BYTES * MAX_COOKIE_FILES + MULTIPART_OVERHEAD

    async def serve(self, body: bytes) -> None:
        form = parse_form(body, self.headers.get("content-type", ""))
        uploads = [upload for upload in form.files if upload.field in ("files", "files[]", "file")]
        if not uploads:
            raise errors.ValidationFailed("Send one or more cookie files in the multipart field 'files'.", param="files")
        if len(uploads) > MAX_COOKIE_FILES:
            raise errors.ValidationFailed(f"At most {MAX_COOKIE_FILES} files per upload.", param="files")
        limit = gateway_settings.COOKIE_MAX_BYTES
        parsed: list[tuple[str, list[CookieEntry]]] = []
        for upload in uploads:
            if len(upload.data) > limit:
                raise errors.RequestTooLarge(f"'{upload.filename}' is larger than {limit} bytes.", param="files")
            parsed.append((upload.filename, cookies_parse(upload.data, filename=upload.filename)))
        stored = await sync_to_async(cookies_store)(cookies=itertools.chain.from_iterable(c for _, c in parsed))
        await self.send_json(200, upload_summary(parsed, stored))


def upload_summary(parsed: list[tuple[str, list[CookieEntry]]], stored: dict[str, int]) -> dict[str, Any]:
    """What was stored, by file and by domain: names and counts, never values."""
    return {
        "object": "cookie_upload",
        "files": [
            {"filename": name, "cookies": len(cookies), "domains": sorted({c.domain for c in cookies})}
            for name, cookies in parsed
        ],
        "domains": [{"domain": domain, "cookies": count} for domain, count in stored.items()],
        "stored": sum(stored.values()),
    }
