"""PollinationsAI's free public API: text through its OpenAI-compatible endpoint, images by URL.

The provider's base URL is the text endpoint, "https://text.pollinations.ai/openai" (it serves
`POST /openai/chat/completions`), so chat is plain OpenAI. Models are listed by `GET /models` on the
same host (objects with a `name`). Images come from `GET /prompt/{prompt}?width&height&model&seed`:
on the public service that is the separate `IMAGE_PROMPT_URL` host; any other base URL (a
self-hosted copy, a test server) is expected to serve `/prompt/` on its own host. No key is needed;
one is sent as a bearer token when the provider has it.
"""

import base64
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from completions import errors
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.openai import OpenAIAdapter

PUBLIC_TEXT_HOST = "text.pollinations.ai"
IMAGE_PROMPT_URL = "https://image.pollinations.ai/prompt"
DEFAULT_IMAGE_SIZE = (1024, 1024)


class PollinationsAdapter(OpenAIAdapter):
    """OpenAI-compatible chat plus Pollinations' prompt-in-URL image generation."""

    protocol = "pollinations"

    async def list_models(self, target: UpstreamTarget) -> list[dict[str, Any]]:
        response = await self.send(target, "GET", origin(target.base_url) + "/models")
        body = self.read_json(response)
        models = body.get("data") if isinstance(body, dict) else body
        if not isinstance(models, list):
            raise errors.UpstreamMalformed("The provider's model list is not a list.")
        return [
            {**model, "id": model.get("id") or model["name"]}
            for model in models
            if isinstance(model, dict) and (model.get("id") or model.get("name"))
        ]

    async def images(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        """Image URLs (`response_format` "url", the default) or their bytes ("b64_json")."""
        width, height = image_size(payload.get("size"))
        seed = payload.get("seed")
        first_seed = int(seed) if seed is not None else secrets.randbelow(2**31)
        urls = [
            image_url(
                target,
                prompt=payload["prompt"],
                model=payload.get("model") or target.upstream_model,
                width=width,
                height=height,
                seed=first_seed + offset,
            )
            for offset in range(payload.get("n") or 1)
        ]
        if payload.get("response_format") == "b64_json":
            data = [{"b64_json": base64.b64encode(await self.image_bytes(target, url)).decode("ascii")} for url in urls]
        else:
            data = [{"url": url} for url in urls]
        return {"created": int(time.time()), "data": data}

    async def image_bytes(self, target: UpstreamTarget, url: str) -> bytes:
        response = await self.send(target, "GET", url)
        if not response.headers.get("content-type", "").startswith("image/"):
            raise errors.UpstreamMalformed("The provider's image answer is not an image.")
        return response.content


def origin(base_url: str) -> str:
    """Scheme and host of a base URL: where Pollinations serves `/models` and `/prompt/`."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


def image_url(target: UpstreamTarget, *, prompt: str, model: str, width: int, height: int, seed: int) -> str:
    """The URL that generates one image; `private` keeps it out of Pollinations' public feed."""
    if urlsplit(target.base_url).hostname == PUBLIC_TEXT_HOST:
        prompt_url = IMAGE_PROMPT_URL
    else:
        prompt_url = origin(target.base_url) + "/prompt"
    query = {"width": width, "height": height, "model": model, "seed": seed, "nologo": "true", "private": "true"}
    return f"{prompt_url}/{quote(prompt, safe='')}?{urlencode(query)}"


def image_size(size: str | None) -> tuple[int, int]:
    """Width and height from an OpenAI `size` like "1024x768" ("auto" or none: 1024x1024)."""
    if not size or size == "auto":
        return DEFAULT_IMAGE_SIZE
    width, _, height = size.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or not (0 < int(width) <= 4096 and 0 < int(height) <= 4096):
        raise errors.ValidationFailed(f"Invalid image size '{size}': expected WIDTHxHEIGHT.", param="size")
    return int(width), int(height)
