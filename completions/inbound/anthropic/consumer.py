"""`POST /v1/messages` and `POST /v1/messages/count_tokens`: the Messages API on the one lifecycle.

Each attempt looks at its route's protocol. An `anthropic` provider gets the client's body as sent
(model swapped, credential swapped, `anthropic-version` / `anthropic-beta` passed on) and its answer
or stream bytes are relayed untouched, parsed only for usage and the end of the stream. Any other
provider gets the internal chat request (`request.py`) and its answer is rendered back (`render.py`).
Errors, before or after the first byte, are Anthropic's (`event: error` once a stream has begun).
"""

from collections.abc import AsyncIterator
from typing import Any

import orjson

from catalogue.snapshot import Route
from completions import errors
from completions.http.consumer import JSON
from completions.http.lifecycle import Headers, UpstreamConsumer
from completions.http.streaming import SSE_HEADERS
from completions.inbound.anthropic.render import EventRenderer, error_body, message_from_chat, sse
from completions.inbound.anthropic.request import MessagesRequest
from completions.routing import failover
from completions.routing.plan import RoutePlan
from completions.upstream.adapters import Adapter
from completions.upstream.adapters.anthropic import usage as chat_usage_from
from completions.upstream.adapters.anthropic_native import NativeMessages
from completions.usage import estimate_tokens

PASSED_HEADERS = ("anthropic-version", "anthropic-beta")


def is_native(route: Route) -> bool:
    """Whether the route's provider speaks the Messages API itself."""
    return route.provider.adapter == "anthropic"


class AnthropicErrorsMixin:
    """Errors in Anthropic's shape (`render.ERROR_TYPES`), with Retry-After on a 429."""

    def render_error(self, exc: errors.GatewayError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        return exc.status_code, orjson.dumps(error_body(exc)), errors.error_headers(exc)


class MessagesConsumer(AnthropicErrorsMixin, UpstreamConsumer):
    endpoint = "messages"
    request: MessagesRequest | None = None
    native = False  # the opened stream comes from an `anthropic` provider
    renderer: EventRenderer | None = None
    native_usage: dict[str, Any] | None = None
    native_stopped = False

    async def parse(self, body: bytes) -> MessagesRequest:
        return MessagesRequest.parse(body)

    def needs(self, request: MessagesRequest) -> frozenset[str]:
        return request.needs()

    def is_stream(self, request: MessagesRequest) -> bool:
        return request.stream

    def client_headers(self) -> dict[str, str]:
        return {name: self.headers[name] for name in PASSED_HEADERS if self.headers.get(name)}

    def answered_headers(self, provider: str) -> Headers:
        return [(b"x-provider", provider.encode()), (b"x-attempts", str(len(self.attempts)).encode())]

    # --- one answer ----------------------------------------------------------------------------

    def attempt(self, adapter: Adapter, route: Route) -> Any:
        target = failover.upstream_target(route)
        if is_native(route):
            body = self.request.native_body(route.upstream_name)
            return NativeMessages(adapter).post(target, "v1/messages", body, self.client_headers())
        return adapter.chat(target, failover.route_payload(route, self.request.payload))

    async def respond(self, result: Any, provider: str, plan: RoutePlan) -> dict[str, Any]:
        if isinstance(result, dict):  # a chat.completion from a translated route
            message = message_from_chat(result, model=self.request.model, prompt_text=self.request.prompt_text)
            await self.send_json(200, message, self.answered_headers(provider))
            usage = message["usage"]
            return {"prompt_tokens": usage["input_tokens"], "completion_tokens": usage["output_tokens"]}
        headers = [JSON, *self.answered_headers(provider), *self.extra_headers]
        await self.send_response(200, result.content, headers=headers)
        try:
            answer = orjson.loads(result.content)
        except orjson.JSONDecodeError:
            return {}
        return chat_usage_from(answer.get("usage") or {}) if isinstance(answer, dict) else {}

    # --- a stream ------------------------------------------------------------------------------

    async def open_stream(self, plan: RoutePlan, request: MessagesRequest) -> failover.OpenStream:
        async def first_piece(adapter: Adapter, route: Route) -> tuple[Any, AsyncIterator[Any]]:
            target = failover.upstream_target(route)
            if is_native(route):
                body = request.native_body(route.upstream_name)
                pieces = NativeMessages(adapter).stream(target, body, self.client_headers())
            else:
                pieces = adapter.chat_stream(target, failover.route_payload(route, request.payload))
            try:
                return await anext(pieces), pieces
            except StopAsyncIteration:
                raise errors.UpstreamMalformed("The provider's stream was empty.") from None
            except BaseException:
                await pieces.aclose()
                raise

        if not any(route.provider.supports_stream for route in plan.routes):
            raise errors.UnsupportedCapability("No provider for this model supports streaming.", param="stream")
        (first, rest), route, seconds = await failover.first_success(
            plan, self.attempts, first_piece, record_success=False, eligible=lambda r: r.provider.supports_stream
        )
        self.native = is_native(route)
        return failover.OpenStream(route=route, first_chunk=first, rest=rest, first_chunk_seconds=seconds)

    def stream_start(self, provider: str, plan: RoutePlan, request: MessagesRequest) -> Headers:
        if not self.native:
            self.renderer = EventRenderer(model=request.model, prompt_text=request.prompt_text)
        return [*SSE_HEADERS, *self.answered_headers(provider)]

    def stream_piece(self, chunk: Any) -> bytes | None:
        if not self.native:
            return self.renderer.feed(chunk) or None
        if chunk.startswith((b"event: message_start", b"event: message_delta")):
            self._note_native_usage(chunk)
        elif chunk.startswith(b"event: message_stop"):
            self.native_stopped = True
        return chunk

    def _note_native_usage(self, event: bytes) -> None:
        try:
            data = orjson.loads(event.partition(b"data:")[2])
        except orjson.JSONDecodeError:
            raise errors.UpstreamMalformed("The provider sent a malformed stream event.") from None
        usage = (data.get("message") or data).get("usage") if isinstance(data, dict) else None
        if isinstance(usage, dict):
            known = self.native_usage or {}
            self.native_usage = {**known, **{key: value for key, value in usage.items() if value is not None}}

    async def stream_closing(self) -> bytes:
        if not (self.native_stopped if self.native else self.renderer.finished):
            raise errors.StreamTruncated("The provider's stream ended before it finished.")
        return b"" if self.native else self.renderer.closing()

    async def stream_error(self, exc: errors.GatewayError) -> bytes:
        return sse("error", {"error": error_body(exc)["error"]})

    def stream_usage(self) -> dict[str, Any] | None:
        if self.native:
            return chat_usage_from(self.native_usage or {})
        return self.renderer.chat_usage() if self.renderer is not None else None


class CountTokensConsumer(AnthropicErrorsMixin, UpstreamConsumer):
    """`{"input_tokens": N}`: the upstream's count from an `anthropic` provider, else an estimate."""

    endpoint = "count_tokens"
    request: MessagesRequest | None = None

    async def parse(self, body: bytes) -> MessagesRequest:
        return MessagesRequest.parse(body, count_only=True)

    def needs(self, request: MessagesRequest) -> frozenset[str]:
        return request.needs()

    def answers_locally(self, route: Route) -> bool:
        return not is_native(route)  # an estimate: the upstream is never asked

    def attempt(self, adapter: Adapter, route: Route) -> Any:
        if is_native(route):
            body = self.request.native_body(route.upstream_name)
            headers = {name: self.headers[name] for name in PASSED_HEADERS if self.headers.get(name)}
            return NativeMessages(adapter).post(
                failover.upstream_target(route), "v1/messages/count_tokens", body, headers
            )
        return self.estimate()

    async def estimate(self) -> int:
        return estimate_tokens(self.request.prompt_text)

    async def respond(self, result: Any, provider: str, plan: RoutePlan) -> dict[str, Any]:
        if isinstance(result, int):
            count = result
        else:
            answer = failover_json(result.content)
            count = answer.get("input_tokens")
            if not isinstance(count, int):
                raise errors.UpstreamMalformed("The provider's token count has no 'input_tokens'.")
        await self.send_json(200, {"input_tokens": count}, [(b"x-provider", provider.encode())])
        return {"prompt_tokens": count, "completion_tokens": 0}


def failover_json(content: bytes) -> dict[str, Any]:
    """An upstream JSON object, or UpstreamMalformed."""
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise errors.UpstreamMalformed("The provider answered with malformed JSON.") from None
    if not isinstance(value, dict):
        raise errors.UpstreamMalformed("The provider answered with malformed JSON.")
    return value
