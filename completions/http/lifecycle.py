"""One request lifecycle for every endpoint that waits on an upstream provider.

    serve(body)
      authenticate, admit_soon()     unless an upload did both before reading its body (MultipartBodyMixin)
      request = await parse(body)    endpoint hook: validate (InvalidRequest); nothing is recorded before this;
                                     then the admission is awaited (its refusal wins over a parse error)
      plan = reroute(plan_request(..., needed=needs(request), health=health_board.view(), now=time.time()))
      one answer:  failover.first_success(plan, attempts, attempt)  ->  await respond(result, provider, plan)
      a stream:    open_stream(plan, request)  ->  stream_start / stream_piece* / stream_closing
                   (after the first piece a failure ends the stream with stream_error(exc), never silently)
      record(...)                    exactly one usage row per parsed request, the same fields everywhere
      errors                         render_error(exc) (GatewayHttpConsumer), overridable per client protocol
      release()                      always, when the request or its stream is over (GatewayHttpConsumer)

An endpoint supplies its parser (`parse`), its capability call (`attempt`, or `open_stream` for a
stream) and its shaping (`respond`, `stream_*`). A new client protocol (Responses, Messages,
embeddings) subclasses this, or the chat consumer, with its own parser and renderer, including
`render_error` and `stream_error` for its own error shape.

Per-key limits (rate, concurrency, budget) are `admit()` / `release()` (GatewayHttpConsumer, over
`completions.limits`): the admission starts once right after authentication with the request's
token estimate (a quarter of its bytes), travels to Redis while the body is parsed, and is decided
before anything else is; `release()` once at the very end of every request, admitted or
not, with the tokens and cost `record()` found. A key's allowed models and providers are checked
before planning (403 model_not_allowed) and narrow the plan's routes (`key_plan`).
"""

import time
from collections.abc import Awaitable
from typing import Any, Protocol

from catalogue.snapshot import ApiKeyEntry, Route
from completions import errors
from completions.http.consumer import GatewayHttpConsumer
from completions.http.request_log import note
from completions.routing import failover
from completions.routing.health import health_board
from completions.routing.plan import RoutePlan, plan_request
from completions.upstream.adapters import Adapter
from completions.upstream.transport import BEFORE_UPSTREAM_WAIT
from completions.usage import usage_recorder
from g4fsite.conf import gateway_settings

Headers = list[tuple[bytes, bytes]]
_NO_USAGE: dict[str, int] = {}  # read only


def key_plan(plan: RoutePlan, key: ApiKeyEntry) -> RoutePlan:
    """`plan` narrowed to what `key` may use; 403 model_not_allowed when nothing is left."""
    if not key.may_use_model(plan.model):
        raise errors.ModelNotAllowed(f"This key may not use the model '{plan.model}'.", param="model")
    routes = tuple(route for route in plan.routes if key.may_use_provider(route.provider.name))
    if not routes:
        raise errors.ModelNotAllowed(f"This key may use none of the providers of '{plan.model}'.", param="model")
    return RoutePlan(model=plan.model, routes=routes, pinned=plan.pinned) if len(routes) != len(plan.routes) else plan


class EndpointRequest(Protocol):
    """What the lifecycle reads of a parsed request; the rest is the endpoint's."""

    model: str  # as the client named it ("" for a provider's default)
    provider: str  # the provider the client named, or ""


class UpstreamConsumer(GatewayHttpConsumer):
    """The lifecycle above; subclasses set `endpoint` (usage rows) and `needed`, and fill the hooks."""

    endpoint = ""  # the usage rows' endpoint
    needed: frozenset[str] = frozenset()  # the capabilities a provider-model needs (see `needs`)
    request: Any = None  # the parsed request (an EndpointRequest); None until parsed
    plan: RoutePlan | None = None
    proxy: str | None = None  # an allowed per-request upstream proxy (chat's `proxy` field)
    started = 0.0
    first_piece_at = 0.0  # when a stream's first piece was sent (time to first token)

    async def serve(self, body: bytes) -> None:
        """The lifecycle (see the module docstring); a GatewayError is recorded, then rendered.
        `finish` runs at the end, whatever happened (in this frame: a wrapper would cost a frame
        resumed at every await of a stream)."""
        try:
            self.started = time.monotonic()
            self.attempts = failover.Attempts()
            admitting = None
            if self.snapshot is None:  # uploads authenticate before reading their body
                self.caller = await self.authenticate()
                admitting = self.admit_soon(len(body) // 4)
            try:
                request = await self.parse(body)  # while a Redis admission is on its way
            finally:
                if admitting is not None:  # decided first: its refusal wins over a bad body
                    await admitting
            self.request = request
            note(self.scope, model=request.model)
            key = self.caller.key
            restricted = key is not None and (key.allowed_models is not None or key.allowed_providers is not None)
            try:
                if restricted:
                    self.check_allowed(key, request)
                plan = self.plan = self.reroute(
                    plan_request(
                        self.snapshot,
                        model_name=request.model,
                        provider_name=request.provider,
                        needed=self.needs(request),
                        ignored=frozenset(name.lower() for name in gateway_settings.IGNORED_PROVIDERS),
                        health=health_board.view(),
                        now=time.time(),
                    )
                )
                if restricted:
                    plan = self.plan = key_plan(plan, key)
                if self.is_stream(request):
                    await self.relay(plan, request)
                    return
                result, route, _ = await failover.first_success(
                    plan, self.attempts, self.attempt, proxy=self.proxy, answers_locally=self.answers_locally
                )
                provider = route.provider.name
                usage = await self.respond(result, provider, plan)
                self.record(success=True, status=200, provider=provider, usage=usage)
            except errors.GatewayError as exc:
                self.record(success=False, status=exc.status_code, error=exc.message)
                raise
        finally:
            await self.finish()

    async def finish(self) -> None:
        """Called once when the request is over (also after an error or a disconnect)."""

    async def relay(self, plan: RoutePlan, request: Any) -> None:
        """Open a stream on the first route that yields a chunk, then pass every piece on. A failure
        after the first piece counts against the provider and ends the stream with an error event."""
        opened = await self.open_stream(plan, request)
        provider = opened.route.provider.name
        headers = self.stream_start(provider, plan, request)
        await self.send_headers(status=200, headers=[*headers, *self.extra_headers])
        piece = self.stream_piece(opened.first_chunk)
        if piece is not None:
            await self.send_chunk(piece)
        self.first_piece_at = time.monotonic()
        pending: list[bytes] = []  # pieces made from what the upstream sent so far, not yet written

        async def flush() -> None:
            if pending:
                data = b"".join(pending)
                pending.clear()
                await self.send_chunk(data)

        waiting = BEFORE_UPSTREAM_WAIT.set(flush)  # written out before the transport waits for more
        try:
            async for upstream_chunk in opened.rest:
                piece = self.stream_piece(upstream_chunk)
                if piece is not None:
                    pending.append(piece)
            closing = await self.stream_closing()
        except errors.GatewayError as exc:
            opened.failed(exc)
            await flush()
            await self.send_body(await self.stream_error(exc))
            self.record(
                success=False, status=exc.status_code, provider=provider, usage=self.stream_usage(), error=exc.message
            )
            return
        finally:
            BEFORE_UPSTREAM_WAIT.reset(waiting)
        opened.succeeded()
        pending.append(closing)
        await self.send_body(b"".join(pending))
        self.record(success=True, status=200, provider=provider, usage=self.stream_usage())

    def check_allowed(self, key: ApiKeyEntry, request: Any) -> None:
        """Refuse (403 model_not_allowed) a model or provider the client named that the key may not use."""
        if request.provider and not key.may_use_provider(request.provider):
            raise errors.ModelNotAllowed(f"This key may not use the provider '{request.provider}'.", param="provider")
        if request.model:
            model = self.snapshot.model(request.model)
            if not key.may_use_model(model.name if model else request.model):
                raise errors.ModelNotAllowed(f"This key may not use the model '{request.model}'.", param="model")

    async def on_disconnect(self) -> None:
        if self.request is not None:
            self.record(success=False, status=499, error="The client disconnected.")

    def on_server_cancel(self) -> None:
        if self.request is not None:
            self.record(success=False, status=503, error="The server stopped before the answer was complete.")

    def record(
        self, *, success: bool, status: int, provider: str = "", usage: dict | None = None, error: str = ""
    ) -> None:
        """The request's one usage row. `attempts` counts the providers tried: 0 when routing refused
        the request before any attempt."""
        usage = usage or _NO_USAGE
        model = self.plan.model if self.plan else self.request.model
        note(self.scope, provider=provider, model=model)
        prompt_tokens = usage.get("prompt_tokens") or 0
        completion_tokens = usage.get("completion_tokens") or 0
        route = self.route_of(provider)
        self.used_tokens = prompt_tokens + completion_tokens
        self.cost = route.cost(prompt_tokens, completion_tokens) if route is not None else 0.0
        usage_recorder.record(
            api_key_id=self.caller.key_id,
            endpoint=self.endpoint,
            model=model,
            provider=provider,
            success=success,
            status_code=status,
            attempts=len(self.attempts),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=self.cost,
            latency_ms=(time.monotonic() - self.started) * 1000,
            stream=self.is_stream(self.request),
            error=error[:500],
            ttft_ms=(self.first_piece_at - self.started) * 1000 if self.first_piece_at else None,
        )

    def route_of(self, provider: str) -> Route | None:
        """The plan's route through `provider` (its price makes the row's cost)."""
        if provider and self.plan is not None:
            for route in self.plan.routes:
                if route.provider.name == provider:
                    return route
        return None

    # --- endpoint hooks ---------------------------------------------------------------------------

    async def parse(self, body: bytes) -> EndpointRequest:
        """The validated request (raises an InvalidRequest); may set up endpoint state on `self`."""
        raise NotImplementedError

    def needs(self, request: Any) -> frozenset[str]:
        """The capabilities a provider-model needs to serve `request`."""
        return self.needed

    def reroute(self, plan: RoutePlan) -> RoutePlan:
        """The plan to follow (chat puts a conversation's last provider first)."""
        return plan

    def is_stream(self, request: Any) -> bool:
        """Whether `request` is answered as a stream (`open_stream` and the `stream_*` hooks)."""
        return False

    def attempt(self, adapter: Adapter, route: Route) -> Awaitable[Any]:
        """One attempt of the endpoint's capability call on `route`; raises a GatewayError to fail over."""
        raise NotImplementedError

    def answers_locally(self, route: Route) -> bool:
        """Whether `attempt` on `route` answers without calling the upstream (then nothing is recorded
        in the provider's health: count_tokens' estimate for a provider that cannot count)."""
        return False

    async def respond(self, result: Any, provider: str, plan: RoutePlan) -> dict[str, Any] | None:
        """Send the answer built from `result`; return its token usage, if it has any."""
        raise NotImplementedError

    def open_stream(self, plan: RoutePlan, request: Any) -> Awaitable[failover.OpenStream]:
        """Start streaming from the first route that yields a chunk (see `failover.open_stream`)."""
        raise errors.UnsupportedCapability("This endpoint does not stream.", param="stream")

    def stream_start(self, provider: str, plan: RoutePlan, request: Any) -> Headers:
        """Get ready to shape `provider`'s stream; return the response headers (CORS is added)."""
        raise NotImplementedError

    def stream_piece(self, chunk: dict[str, Any]) -> bytes | None:
        """The bytes to send for one upstream chunk, or None to send nothing now."""
        raise NotImplementedError

    async def stream_closing(self) -> bytes:
        """The stream's last bytes after the upstream ended; raises a GatewayError if it ended early."""
        raise NotImplementedError

    async def stream_error(self, exc: errors.GatewayError) -> bytes:
        """The stream's last bytes after it broke off with `exc`: an error event in the protocol's shape."""
        raise NotImplementedError

    def stream_usage(self) -> dict[str, Any] | None:
        """The token usage of the stream so far, for the usage row."""
        return None
