"""`POST /v1/chat/completions` and `POST /api/{provider}/chat/completions`.

The request lifecycle (auth, routing, failover, usage) is `completions.http.lifecycle`'s; this is
chat's parser and renderer: one JSON body, or Server-Sent Events of `chat.completion.chunk`s ending
with `data: [DONE]`. After the first chunk is sent an upstream failure ends the stream with a
`data: {"error": ...}` event, never a silent clean finish. A request with a conversation runs as
its turn (`completions.conversations.turns`).
"""

from collections.abc import Awaitable
from typing import Any

from catalogue.snapshot import Route
from completions import errors
from completions.chat import ChatRequest, StreamShaper, shape_completion
from completions.conversations.turns import NO_CONVERSATION, turn_begin
from completions.http.lifecycle import Headers, UpstreamConsumer
from completions.http.streaming import DONE, SSE_HEADERS, sse_event
from completions.routing import failover
from completions.routing.plan import RoutePlan, required_capabilities
from completions.upstream.adapters import Adapter
from completions.upstream.proxy_policy import request_proxy


class ChatCompletionsConsumer(UpstreamConsumer):
    endpoint = "chat"
    request: ChatRequest | None = None
    turn = NO_CONVERSATION  # the request's conversation turn (completions.conversations.turns)
    shaper: StreamShaper | None = None

    async def finish(self) -> None:
        await self.turn.close()  # a turn cut short (error, disconnect) stores what it has

    async def parse(self, body: bytes) -> ChatRequest:
        kwargs = self.scope.get("url_route", {}).get("kwargs", {})
        request = self.request = ChatRequest.parse(
            body, provider=kwargs.get("provider", ""), conversation_id=kwargs.get("conversation_id")
        )
        self.proxy = request_proxy(request.proxy)
        self.turn = await turn_begin(request, self.caller)
        return request

    def needs(self, request: ChatRequest) -> frozenset[str]:
        return required_capabilities(request.payload)

    def reroute(self, plan: RoutePlan) -> RoutePlan:
        return self.turn.route(plan)

    def is_stream(self, request: ChatRequest) -> bool:
        return request.stream

    def attempt(self, adapter: Adapter, route: Route) -> Awaitable[dict[str, Any]]:
        return adapter.chat(failover.upstream_target(route), failover.route_payload(route, self.request.payload))

    async def respond(self, result: dict[str, Any], provider: str, plan: RoutePlan) -> dict[str, Any]:
        completion = shape_completion(result, model=plan.model, provider=provider, request=self.request)
        headers = [
            (b"x-provider", provider.encode()),
            (b"x-attempts", str(len(self.attempts)).encode()),
            *self.turn.answered(provider, plan.model),
        ]
        self.turn.observe_completion(completion)
        await self.turn.finish(usage=completion["usage"])
        await self.send_json(200, completion, headers)
        return completion["usage"]

    def open_stream(self, plan: RoutePlan, request: ChatRequest) -> Awaitable[failover.OpenStream]:
        return failover.open_stream(plan, request.payload, self.attempts, proxy=self.proxy)

    def stream_start(self, provider: str, plan: RoutePlan, request: ChatRequest) -> Headers:
        self.shaper = StreamShaper(model=plan.model, provider=provider, request=request)
        return [
            *SSE_HEADERS,
            (b"x-provider", provider.encode()),
            (b"x-attempts", str(len(self.attempts)).encode()),
            *self.turn.answered(provider, plan.model),
        ]

    def stream_piece(self, chunk: dict[str, Any]) -> bytes | None:
        self.turn.observe(chunk)
        shaped = self.shaper.shape(chunk)
        return None if shaped is None else sse_event(shaped)

    async def stream_closing(self) -> bytes:
        if not self.shaper.finished:
            raise errors.StreamTruncated("The provider's stream ended before it finished.")
        await self.turn.finish(usage=self.shaper.usage_totals())
        return b"".join(sse_event(chunk) for chunk in self.shaper.closing_chunks()) + DONE

    async def stream_error(self, exc: errors.GatewayError) -> bytes:
        await self.turn.finish(usage=self.shaper.usage_totals(), incomplete=True)
        return sse_event(errors.error_body(exc)) + DONE

    def stream_usage(self) -> dict[str, Any] | None:
        return self.shaper.usage_totals() if self.shaper is not None else None
