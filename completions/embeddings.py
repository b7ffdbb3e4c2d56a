"""`POST /v1/embeddings` and `POST /api/{provider}/embeddings`: OpenAI's embeddings, over every
upstream protocol that has them (OpenAI-compatible `/embeddings`, Gemini `batchEmbedContents`).

The lifecycle (auth, routing by the `embedding` capability with live health, failover, usage) is
`completions.http.lifecycle`'s; this is the endpoint's parser, capability call and answer:

- `input` is a string, a list of strings, a token array or a list of token arrays (OpenAI's four
  forms; token arrays reach only the protocols that take them), at most 2048 items;
- `encoding_format` "float" (the default) or "base64": base64 of the little-endian float32 values,
  made here when the upstream gave floats (Gemini always does), decoded here in the other case;
- `dimensions` goes upstream as it is (Gemini's `outputDimensionality`), `user` and fields the
  gateway does not know go to OpenAI-compatible upstreams untouched;
- the answer is OpenAI's `CreateEmbeddingResponse` plus `provider`, with the upstream's `usage`, or
  an estimate when it gave none. An answer without one embedding per input fails over.
"""

import base64
import binascii
import struct
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from catalogue.snapshot import Route
from completions import errors
from completions.http.lifecycle import UpstreamConsumer
from completions.routing.failover import upstream_target
from completions.routing.plan import RoutePlan
from completions.serializers import GATEWAY_FIELDS, json_object
from completions.upstream.adapters import Adapter
from completions.usage import estimate_tokens
from g4fsite.conf import gateway_settings

MAX_INPUTS = 2048
ENCODING_FORMATS = ("float", "base64")
KNOWN_FIELDS = frozenset({"input", "model", "encoding_format", "dimensions"})
INPUT_FORMS = "a non-empty string, a list of non-empty strings, a token array or a list of token arrays"


@dataclass
class EmbeddingRequest:
    input: str | list[str] | list[int] | list[list[int]]
    model: str  # as the client named it ("" for a named provider's default embedding model)
    provider: str
    encoding_format: str = "float"
    dimensions: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # `user` and fields passed through untouched

    @classmethod
    def parse(cls, body: bytes, *, provider: str = "") -> "EmbeddingRequest":
        """Parse and validate a request body (ValidationFailed names the field); `provider` is the URL's."""
        raw = json_object(body)
        encoding_format = raw.get("encoding_format") or "float"
        if encoding_format not in ENCODING_FORMATS:
            raise errors.ValidationFailed("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
        dimensions = raw.get("dimensions")
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise errors.ValidationFailed("'dimensions' must be a positive integer.", param="dimensions")
        for name in ("model", "provider", "user"):
            if raw.get(name) is not None and not isinstance(raw[name], str):
                raise errors.ValidationFailed(f"'{name}' must be a string.", param=name)
        return cls(
            input=_valid_input(raw.get("input")),
            model=raw.get("model") or "",
            provider=provider or raw.get("provider") or gateway_settings.DEFAULT_PROVIDER,
            encoding_format=encoding_format,
            dimensions=dimensions,
            extra={key: value for key, value in raw.items() if key not in KNOWN_FIELDS and key not in GATEWAY_FIELDS},
        )

    @property
    def count(self) -> int:
        """How many embeddings the answer holds: one per string or token array."""
        if isinstance(self.input, str) or isinstance(self.input[0], int):
            return 1
        return len(self.input)

    def upstream_payload(self, upstream_model: str) -> dict[str, Any]:
        payload = {**self.extra, "model": upstream_model, "input": self.input, "encoding_format": self.encoding_format}
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions
        return payload

    def prompt_tokens_estimate(self) -> int:
        """Tokens of the input, for an upstream that reports none: a token array counts its items."""
        items = [self.input] if isinstance(self.input, str) or isinstance(self.input[0], int) else self.input
        return sum(len(item) if isinstance(item, list) else estimate_tokens(item) for item in items)


def _valid_input(value: Any) -> Any:
    if isinstance(value, str) and value:
        return value
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        raise errors.ValidationFailed(f"'input' must be {INPUT_FORMS}, at most {MAX_INPUTS} items.", param="input")
    if all(isinstance(item, str) and item for item in value) or all(_is_token(item) for item in value):
        return value
    if all(isinstance(item, list) and item and all(_is_token(token) for token in item) for item in value):
        return value
    raise errors.ValidationFailed(f"'input' must be {INPUT_FORMS}.", param="input")


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def float32_base64(values: list[float]) -> str:
    """OpenAI's base64 encoding of an embedding: its values as little-endian float32."""
    try:
        packed = struct.pack(f"<{len(values)}f", *values)
    except struct.error as exc:
        raise errors.UpstreamMalformed("The provider sent an embedding with values that are not numbers.") from exc
    return base64.b64encode(packed).decode("ascii")


def base64_floats(text: str) -> list[float]:
    """The values of a base64 embedding (little-endian float32); UpstreamMalformed when it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.UpstreamMalformed("The provider sent an embedding that is not base64.") from exc
    if len(raw) % 4:
        raise errors.UpstreamMalformed("The provider sent a base64 embedding that is not float32 values.")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def embedding_list(result: Any, request: EmbeddingRequest) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The `data` items in `request.encoding_format`, by index, and the usage, from an adapter's answer;
    raises UpstreamMalformed (which fails over) unless it holds one embedding per input."""
    items = result.get("data") if isinstance(result, dict) else None
    if not isinstance(items, list) or len(items) != request.count:
        raise errors.UpstreamMalformed("The provider's answer does not hold one embedding per input.")
    data = []
    for position, item in enumerate(sorted(items, key=_index)):
        vector = item.get("embedding")
        if not isinstance(vector, list | str):
            raise errors.UpstreamMalformed("The provider sent an embedding that is not a vector.")
        if request.encoding_format == "base64" and isinstance(vector, list):
            vector = float32_base64(vector)
        elif request.encoding_format == "float" and isinstance(vector, str):
            vector = base64_floats(vector)
        data.append({"object": "embedding", "index": position, "embedding": vector})
    usage = result.get("usage")
    prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if not isinstance(prompt, int) or isinstance(prompt, bool):
        prompt = request.prompt_tokens_estimate()
    return data, {"prompt_tokens": prompt, "total_tokens": prompt}


def _index(item: Any) -> int:
    if not isinstance(item, dict):
        raise errors.UpstreamMalformed("The provider sent an embedding that is not an object.")
    index = item.get("index", 0)
    return index if isinstance(index, int) else 0


@dataclass(frozen=True, slots=True)
class Embeddings:
    data: list[dict[str, Any]]
    usage: dict[str, int]


class EmbeddingsConsumer(UpstreamConsumer):
    endpoint = "embeddings"
    needed = frozenset({"embedding"})
    request: EmbeddingRequest | None = None

    async def parse(self, body: bytes) -> EmbeddingRequest:
        provider = self.scope.get("url_route", {}).get("kwargs", {}).get("provider", "")
        return EmbeddingRequest.parse(body, provider=provider)

    def attempt(self, adapter: Adapter, route: Route) -> Awaitable[Embeddings]:
        return self.embed(adapter, route)

    async def embed(self, adapter: Adapter, route: Route) -> Embeddings:
        result = await adapter.embeddings(upstream_target(route), self.request.upstream_payload(route.upstream_name))
        return Embeddings(*embedding_list(result, self.request))

    async def respond(self, result: Embeddings, provider: str, plan: RoutePlan) -> dict[str, Any]:
        answer = {"object": "list", "data": result.data, "model": plan.model, "usage": result.usage}
        headers = [(b"x-provider", provider.encode()), (b"x-attempts", str(len(self.attempts)).encode())]
        await self.send_json(200, {**answer, "provider": provider}, headers)
        return result.usage
