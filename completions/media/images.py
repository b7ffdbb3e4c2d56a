"""Image generation: validate the request, fail over across image providers, deliver URL or base64.

Whatever a provider answers (base64, an http(s) URL, a `data:` URL), the client gets what it asked
for (`deliver`, once an attempt succeeded): with `response_format` "url" the image is stored in the
media store and the URL is this server's `/media/{filename}`; with "b64_json" the bytes,
base64-encoded. Images at provider URLs are downloaded with a size cap (`MEDIA_FETCH_MAX_BYTES`) and
the provider's timeout: from the provider's own origin (its base URL as the operator configured it)
directly, from anywhere else only through `safe_fetch.fetch_public` (public addresses only, every
redirect re-checked), so a provider's answer cannot aim the gateway at its own network. Sizes: "auto"
or WIDTHxHEIGHT with both sides from 256 to 4096 pixels.
"""

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from completions import errors
from completions.media.store import amedia_store, media_url
from completions.serializers import json_object
from completions.upstream.adapters import Adapter, UpstreamTarget
from completions.upstream.client import get_http_client
from completions.upstream.safe_fetch import REDIRECT_STATUSES, fetch_public, parse_data_url
from completions.upstream.status import translate_errors
from g4fsite.conf import gateway_settings

MIN_SIDE, MAX_SIDE = 256, 4096
MAX_IMAGES = 4
MAX_REDIRECTS = 5
RESPONSE_FORMATS = ("url", "b64_json")
# Fields passed upstream besides prompt, model, n, size and response_format.
PASSED_FIELDS = ("quality", "style", "user", "seed", "background", "output_format", "negative_prompt")


@dataclass
class ImageRequest:
    prompt: str
    model: str
    provider: str
    n: int
    size: str | None
    response_format: str
    extra: dict[str, Any]

    @classmethod
    def parse(cls, body: bytes, *, provider: str = "") -> "ImageRequest":
        raw = json_object(body)
        prompt = raw.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise errors.ValidationFailed("'prompt' is required and must be a non-empty string.", param="prompt")
        n = raw.get("n", 1)
        if n is None:
            n = 1
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
            raise errors.ValidationFailed(f"'n' must be an integer from 1 to {MAX_IMAGES}.", param="n")
        response_format = raw.get("response_format") or "url"
        if response_format not in RESPONSE_FORMATS:
            raise errors.ValidationFailed("'response_format' must be 'url' or 'b64_json'.", param="response_format")
        for name in ("model", "provider"):
            if raw.get(name) is not None and not isinstance(raw[name], str):
                raise errors.ValidationFailed(f"'{name}' must be a string.", param=name)
        provider = provider or raw.get("provider") or gateway_settings.DEFAULT_PROVIDER
        return cls(
            prompt=prompt,
            # Without `model`: the default image model, or the named provider's own first model.
            model=raw.get("model") or ("" if provider else gateway_settings.DEFAULT_IMAGE_MODEL),
            provider=provider,
            n=n,
            size=image_size(raw.get("size")),
            response_format=response_format,
            extra={name: raw[name] for name in PASSED_FIELDS if raw.get(name) is not None},
        )

    def upstream_payload(self, upstream_model: str) -> dict[str, Any]:
        payload = {"prompt": self.prompt, "model": upstream_model, "n": self.n, **self.extra}
        if self.size:
            payload["size"] = self.size
        payload["response_format"] = self.response_format
        return payload


def image_size(size: Any) -> str | None:
    """A validated "WxH" (None for "auto" or none); ValidationFailed naming `size` otherwise."""
    if size is None or size == "auto":
        return None
    width, _, height = size.lower().partition("x") if isinstance(size, str) else ("", "", "")
    sides = (width, height)
    if not all(_ascii_number(side) and MIN_SIDE <= int(side) <= MAX_SIDE for side in sides):
        raise errors.ValidationFailed(
            f"Invalid size {size!r}: expected 'auto' or WIDTHxHEIGHT with sides from {MIN_SIDE} to {MAX_SIDE}, "
            "e.g. '1024x1024'.",
            param="size",
        )
    return f"{int(width)}x{int(height)}"


def _ascii_number(text: str) -> bool:
    """ASCII digits only (str.isdigit() accepts "²", which int() refuses), and few of them (int()
    refuses strings of more than 4,300 digits)."""
    return text.isascii() and text.isdigit() and len(text) < 8


def image_type(data: bytes) -> str | None:
    """The image media type from the file's first bytes, or None when it is not a known image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


@dataclass
class GeneratedImages:
    """What one provider answered: the images' bytes (checked) and revised prompts, in order."""

    created: int
    images: list[tuple[bytes, str | None]]


async def generate(adapter: Adapter, target: UpstreamTarget, request: ImageRequest) -> GeneratedImages:
    """One attempt: ask the provider and fetch the bytes of each image it made."""
    answer = await adapter.images(target, request.upstream_payload(target.upstream_model))
    items = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(items, list) or not items:
        raise errors.UpstreamMalformed("The provider's image answer has no images.")
    images = []
    for item in items[: request.n]:
        revised = item.get("revised_prompt") if isinstance(item, dict) else None
        images.append((await image_bytes(item, target), revised if isinstance(revised, str) else None))
    created = answer.get("created")
    return GeneratedImages(created=created if isinstance(created, int) else int(time.time()), images=images)


async def deliver(generated: GeneratedImages, request: ImageRequest, base_url: str) -> dict[str, Any]:
    """The client's answer: each image as base64, or stored in the media store and linked. Runs
    after failover: a media storage that fails (MediaStorageUnavailable) is no provider's fault."""
    data = []
    for image, revised_prompt in generated.images:
        entry: dict[str, Any] = {}
        if request.response_format == "b64_json":
            entry["b64_json"] = base64.b64encode(image).decode("ascii")
        else:
            media = await amedia_store(data=image, content_type=image_type(image) or "application/octet-stream")
            entry["url"] = media_url(base_url, media.filename)
        if revised_prompt is not None:
            entry["revised_prompt"] = revised_prompt
        data.append(entry)
    return {"created": generated.created, "data": data}


async def image_bytes(item: Any, target: UpstreamTarget) -> bytes:
    """The bytes of one upstream image (base64, data URL or http(s) URL), checked to be an image."""
    if not isinstance(item, dict):
        raise errors.UpstreamMalformed("The provider's image entry is not an object.")
    if isinstance(item.get("b64_json"), str):
        data = _b64decode(item["b64_json"])
    elif isinstance(item.get("url"), str) and item["url"].startswith("data:"):
        data = _b64decode(parse_data_url(item["url"])[1])
    elif isinstance(item.get("url"), str):
        data = await download(item["url"], target)
    else:
        raise errors.UpstreamMalformed("The provider's image entry has neither 'url' nor 'b64_json'.")
    if image_type(data) is None:
        raise errors.UpstreamMalformed("The provider's image is not a PNG, JPEG, WebP or GIF image.")
    return data


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.UpstreamMalformed("The provider's base64 image is malformed.") from None


async def download(url: str, target: UpstreamTarget) -> bytes:
    """GET an image from the provider's URL, size-capped, following at most `MAX_REDIRECTS` redirects:
    on the provider's own origin directly, elsewhere only from public addresses (see the module)."""
    limit = gateway_settings.MEDIA_FETCH_MAX_BYTES
    provider_origin = _origin(target.base_url)
    for _hop in range(MAX_REDIRECTS + 1):
        if _origin(url) != provider_origin:
            return await _download_public(url, target, limit)
        body = bytearray()
        with translate_errors(target.secrets()):
            async with get_http_client().stream("GET", url, headers={}, timeout=target.request_timeout()) as response:
                if response.status_code in REDIRECT_STATUSES and response.headers.get("location"):
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise errors.ProviderError(f"The provider's image URL answered HTTP {response.status_code}.")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise errors.ProviderImageTooLarge(f"The provider's image is larger than {limit} bytes.")
                return bytes(body)
    raise errors.ProviderError(f"The provider's image URL redirected more than {MAX_REDIRECTS} times.")


def _origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; UpstreamMalformed for anything else."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise errors.UpstreamMalformed("The provider's image URL is invalid.") from None
    if scheme not in ("http", "https") or not host:
        raise errors.UpstreamMalformed("The provider's image URL is not an http(s) URL with a host.")
    return scheme, host, port or (443 if scheme == "https" else 80)


async def _download_public(url: str, target: UpstreamTarget, limit: int) -> bytes:
    """An image off the provider's origin: public addresses only, every redirect re-checked."""
    try:
        data, _ = await fetch_public(url, client=get_http_client(), max_bytes=limit, timeout=target.timeout)
    except errors.ImageUrlRefused as exc:
        raise errors.ProviderImageRefused(
            f"The provider answered with an image URL the gateway refuses to fetch: {exc.message}"
        ) from exc
    except errors.ImageUrlTooLarge as exc:
        raise errors.ProviderImageTooLarge(f"The provider's image is larger than {limit} bytes.") from exc
    except errors.ImageUrlUnreachable as exc:
        raise errors.ProviderError(f"The provider's image URL could not be fetched: {exc.message}") from exc
    return data
