"""`POST /v1/chat/completions` and `POST /api/{provider}/chat/completions`.

Validates, routes, fails over and answers: one JSON body, or Server-Sent Events of
`chat.completion.chunk`s ending with `data: [DONE]`. After the first chunk is sent an upstream
failure ends the stream with a `data: {"error": ...}` event, never a silent clean finish.
"""

import time

from completions import errors
from completions.auth import ANONYMOUS
from completions.chat import ChatRequest, StreamShaper, shape_completion
from completions.conversations.turns import NO_CONVERSATION, turn_begin
from completions.http.consumer import GatewayHttpConsumer
from completions.http.request_log import note
from completions.http.streaming import DONE, SSE_HEADERS, sse_event
from completions.routing import failover
from completions.routing.health import health_board
from completions.routing.plan import RoutePlan, plan_request, required_capabilities
from completions.upstream.proxy_policy import request_proxy
from completions.usage import usage_recorder
from g4fsite.conf import gateway_settings


class ChatCompletionsConsumer(GatewayHttpConsumer):
    request: ChatRequest | None = None
    plan: RoutePlan | None = None
    caller = ANONYMOUS
    proxy: str | None = None  # an allowed per-request proxy (completions.upstream.proxy_policy)
    turn = NO_CONVERSATION  # the request's conversation turn (completions.conversations.turns)

    async def serve(self, body: bytes) -> None:
        try:
            await self.serve_chat(body)
        finally:
            await self.turn.close()  # a turn cut short (error, disconnect) stores what it has

    async def serve_chat(self, body: bytes) -> None:
        self.started = time.monotonic()
        self.attempts = failover.Attempts()
        self.caller = await self.authenticate()
        kwargs = self.scope.get("url_route", {}).get("kwargs", {})
        request = self.request = ChatRequest.parse(
            body, provider=kwargs.get("provider", ""), conversation_id=kwargs.get("conversation_id")
        )
        note(self.scope, model=request.model)
        self.proxy = request_proxy(request.proxy)
        self.turn = await turn_begin(request, self.caller)
        plan = plan_request(
            self.snapshot,
            model_name=request.model,
            provider_name=request.provider,
            needed=required_capabilities(request.payload),
            ignored=frozenset(name.lower() for name in gateway_settings.IGNORED_PROVIDERS),
            health=health_board.view(),
            now=time.time(),
        )
        self.plan = plan = self.turn.route(plan)
        try:
            if request.stream:
                await self.stream(plan, request)
            else:
                await self.complete(plan, request)
        except errors.GatewayError as exc:
            self.record(success=False, status=exc.status_code, error=exc.message)
            raise

    async def complete(self, plan: RoutePlan, request: ChatRequest) -> None:
        completion, route = await failover.complete(plan, request.payload, self.attempts, proxy=self.proxy)
        completion = shape_completion(completion, model=plan.model, provider=route.provider.name, request=request)
        headers = [
            (b"x-provider", route.provider.name.encode()),
            (b"x-attempts", str(len(self.attempts)).encode()),
            *self.turn.answered(route.provider.name, plan.model),
        ]
        self.turn.observe_completion(completion)
        await self.turn.finish(usage=completion["usage"])
        await self.send_json(200, completion, headers)
        self.record(success=True, status=200, provider=route.provider.name, usage=completion["usage"])

    async def stream(self, plan: RoutePlan, request: ChatRequest) -> None:
        opened = await failover.open_stream(plan, request.payload, self.attempts, proxy=self.proxy)
        provider = opened.route.provider.name
        shaper = StreamShaper(model=plan.model, provider=provider, request=request)
        headers = [
            *SSE_HEADERS,
            (b"x-provider", provider.encode()),
            (b"x-attempts", str(len(self.attempts)).encode()),
            *self.turn.answered(provider, plan.model),
        ]
        await self.send_headers(status=200, headers=[*headers, *self.extra_headers])
        self.turn.observe(opened.first_chunk)
        chunk = shaper.shape(opened.first_chunk)
        if chunk is not None:
            await self.send_chunk(sse_event(chunk))
        try:
            async for upstream_chunk in opened.rest:
                self.turn.observe(upstream_chunk)
                chunk = shaper.shape(upstream_chunk)
                if chunk is not None:
                    await self.send_chunk(sse_event(chunk))
            if not shaper.finished:
                raise errors.StreamTruncated("The provider's stream ended before it finished.")
        except errors.GatewayError as exc:
            opened.failed(exc)  # a stream cut after its first chunk counts against its provider
            await self.turn.finish(usage=shaper.usage_totals(), incomplete=True)
            await self.send_body(sse_event(errors.error_body(exc)) + DONE)
            self.record(success=False, status=exc.status_code, provider=provider, error=exc.message, stream=True)
            return
        opened.succeeded()
        await self.turn.finish(usage=shaper.usage_totals())
        closing = b"".join(sse_event(chunk) for chunk in shaper.closing_chunks())
        await self.send_body(closing + DONE)
        self.record(success=True, status=200, provider=provider, usage=shaper.usage_totals(), stream=True)

    async def on_disconnect(self) -> None:
        if self.request is not None:
            self.record(success=False, status=499, error="The client disconnected.")

    def record(
        self,
        *,
        success: bool,
        status: int,
        provider: str = "",
        usage: dict | None = None,
        error: str = "",
        stream: bool | None = None,
    ) -> None:
        usage = usage or {}
        note(self.scope, provider=provider, model=self.plan.model if self.plan else self.request.model)
        usage_recorder.record(
            api_key_id=self.caller.key_id,
            endpoint="chat",
            model=self.plan.model if self.plan else self.request.model,
            provider=provider,
            success=success,
            status_code=status,
            attempts=len(self.attempts),  # 0 when routing refused the request before any attempt
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
            latency_ms=(time.monotonic() - self.started) * 1000,
            stream=self.request.stream if stream is None else stream,
            error=error[:500],
        )
