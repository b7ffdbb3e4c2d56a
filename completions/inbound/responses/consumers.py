"""`POST /v1/responses` on the one request lifecycle, and the stored responses' read and delete paths.

Each route of the plan is served natively or by translation: an OpenAI-compatible provider whose
mapping declares `responses` gets the client's body (`ResponsesRequest.native_body`) and its answer
or events are relayed; any other provider gets the chat translation, whose answer or chunks become a
Response or Responses events here. Failover may cross from one kind to the other before the first byte.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any
from urllib.parse import parse_qsl

from channels.db import database_sync_to_async

from catalogue.snapshot import Route
from completions import errors
from completions.conversations import store
from completions.http.consumer import GatewayHttpConsumer
from completions.http.lifecycle import Headers, UpstreamConsumer
from completions.http.streaming import SSE_HEADERS
from completions.inbound.responses import render
from completions.inbound.responses.request import RESPONSES, ResponsesRequest
from completions.inbound.responses.streams import NativeStream, TranslatedStream
from completions.routing import failover
from completions.routing.plan import RoutePlan
from completions.upstream.adapters import Adapter

logger = logging.getLogger("g4f.responses")


def is_native(adapter: Adapter, route: Route) -> bool:
    """Whether `route` serves the Responses API itself: declared by the operator, spoken by the adapter."""
    return RESPONSES in route.capabilities and callable(getattr(adapter, "responses", None))


class ResponsesConsumer(UpstreamConsumer):
    endpoint = "responses"
    request: ResponsesRequest | None = None
    renderer: TranslatedStream | NativeStream | None = None
    native_stream = False  # the opened stream is a native provider's

    async def parse(self, body: bytes) -> ResponsesRequest:
        kwargs = self.scope.get("url_route", {}).get("kwargs", {})
        request = self.request = ResponsesRequest.parse(body, provider=kwargs.get("provider", ""))
        if request.previous_response_id:
            request.context = await database_sync_to_async(store.response_context)(
                response_id=request.previous_response_id, owner=self.caller.owner
            )
        request.translate()
        return request

    def needs(self, request: ResponsesRequest) -> frozenset[str]:
        return request.needs()

    def is_stream(self, request: ResponsesRequest) -> bool:
        return request.stream

    # --- one answer ---------------------------------------------------------------------------------

    def attempt(self, adapter: Adapter, route: Route) -> Awaitable[tuple[bool, dict[str, Any]]]:
        return self._attempt(adapter, route)

    async def _attempt(self, adapter: Adapter, route: Route) -> tuple[bool, dict[str, Any]]:
        target = failover.upstream_target(route)
        if is_native(adapter, route):
            return True, await adapter.responses(target, self.request.native_body(route.upstream_name))
        return False, await adapter.chat(target, self._chat_payload(route))

    def _chat_payload(self, route: Route) -> dict[str, Any]:
        if self.request.chat is None:
            raise errors.UnsupportedCapability(
                f"Provider '{route.provider.name}' speaks chat, which cannot carry {self.request.untranslatable}."
            )
        return failover.route_payload(route, self.request.chat.payload)

    async def respond(self, result: tuple[bool, dict[str, Any]], provider: str, plan: RoutePlan) -> dict[str, Any]:
        native, answer = result
        if native:
            response = answer
        else:
            response = render.from_completion(self.request, answer, model=plan.model, provider=provider)
        await self.keep(response, provider)
        await self.send_json(200, response, self._headers(provider))
        return render.chat_usage(response.get("usage"))

    def _headers(self, provider: str) -> Headers:
        return [(b"x-provider", provider.encode()), (b"x-attempts", str(len(self.attempts)).encode())]

    async def keep(self, response: dict[str, Any], provider: str) -> None:
        """Store a finished response for `GET /v1/responses/{id}` and continuations (unless `store: false`)."""
        request = self.request
        if not request.store or not isinstance(response.get("id"), str):
            return
        work = asyncio.ensure_future(
            database_sync_to_async(store.response_save)(
                response=response,
                owner=self.caller.owner,
                api_key_id=self.caller.key_id,
                provider=provider,
                previous_response_id=request.previous_response_id or "",
                input_items=render.listed_items(request.input),
                context=render.context_items(request, response),
            )
        )
        try:
            await asyncio.shield(work)  # a client gone meanwhile does not undo the write
        except asyncio.CancelledError:
            raise
        except Exception:  # the answer still goes out; the failure is logged
            logger.exception("Storing response %s failed", response["id"])

    # --- a stream -------------------------------------------------------------------------------------

    async def open_stream(self, plan: RoutePlan, request: ResponsesRequest) -> failover.OpenStream:
        async def first_event(adapter: Adapter, route: Route) -> tuple[bool, Any, AsyncIterator[dict[str, Any]]]:
            native = is_native(adapter, route)
            target = failover.upstream_target(route)
            if native:
                events = adapter.responses_stream(target, request.native_body(route.upstream_name))
            else:
                events = adapter.chat_stream(target, self._chat_payload(route))
            try:
                return native, await anext(events), events
            except StopAsyncIteration:
                raise errors.UpstreamMalformed("The provider's stream was empty.") from None
            except BaseException:
                await _close(events)
                raise

        if not any(route.provider.supports_stream for route in plan.routes):
            raise errors.UnsupportedCapability("No provider for this model supports streaming.", param="stream")
        (native, first, rest), route, seconds = await failover.first_success(
            plan,
            self.attempts,
            first_event,
            record_success=False,
            eligible=lambda route: route.provider.supports_stream,
        )
        self.native_stream = native
        return failover.OpenStream(route=route, first_chunk=first, rest=rest, first_chunk_seconds=seconds)

    def stream_start(self, provider: str, plan: RoutePlan, request: ResponsesRequest) -> Headers:
        shape = NativeStream if self.native_stream else TranslatedStream
        self.renderer = shape(request, model=plan.model, provider=provider)
        return [*SSE_HEADERS, *self._headers(provider)]

    def stream_piece(self, chunk: dict[str, Any]) -> bytes | None:
        return self.renderer.piece(chunk)

    async def stream_closing(self) -> bytes:
        closing = self.renderer.closing()
        await self.keep(self.renderer.response, self.renderer.provider)
        return closing

    async def stream_error(self, exc: errors.GatewayError) -> bytes:
        return self.renderer.failed(exc)

    def stream_usage(self) -> dict[str, Any] | None:
        return self.renderer.usage_totals() if self.renderer is not None else None


async def _close(events: Any) -> None:
    try:
        await events.aclose()
    except Exception:  # noqa: BLE001 - closing a failed upstream stream must not mask its error
        pass


# --- stored responses -------------------------------------------------------------------------------


class StoredResponseConsumer(GatewayHttpConsumer):
    """`GET` / `DELETE /v1/responses/{id}`: the caller's own stored responses; another key's is a 404."""

    allowed_methods = ("GET", "DELETE")

    async def serve(self, body: bytes) -> None:
        caller = self.caller = await self.authenticate()
        await self.admit()
        response_id = self.scope["url_route"]["kwargs"]["response_id"]
        if self.scope["method"] == "DELETE":
            deleted = await database_sync_to_async(store.response_delete)(response_id=response_id, owner=caller.owner)
            if not deleted:
                raise store.response_not_found(response_id)
            await self.send_json(200, {"id": response_id, "object": "response", "deleted": True})
            return
        stored = await database_sync_to_async(store.response_get)(response_id=response_id, owner=caller.owner)
        await self.send_json(200, stored.response)


class ResponseInputItemsConsumer(GatewayHttpConsumer):
    """`GET /v1/responses/{id}/input_items?limit=&order=&after=`: a stored response's input items."""

    allowed_methods = ("GET",)
    max_limit = 100

    async def serve(self, body: bytes) -> None:
        caller = self.caller = await self.authenticate()
        await self.admit()
        response_id = self.scope["url_route"]["kwargs"]["response_id"]
        query = dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))
        limit, order, after = self._page(query)
        stored = await database_sync_to_async(store.response_get)(response_id=response_id, owner=caller.owner)
        items = list(stored.input_items)
        if order == "desc":
            items.reverse()
        if after:
            ids = [item.get("id") for item in items]
            if after not in ids:
                raise errors.ValidationFailed(
                    f"'after' names no input item of response '{response_id}'.", param="after"
                )
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        await self.send_json(
            200,
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(items) > limit,
            },
        )

    def _page(self, query: dict[str, str]) -> tuple[int, str, str]:
        raw_limit = query.get("limit", "20")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= self.max_limit:
            raise errors.ValidationFailed(f"'limit' must be an integer from 1 to {self.max_limit}.", param="limit")
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise errors.ValidationFailed("'order' must be 'asc' or 'desc'.", param="order")
        return int(raw_limit), order, query.get("after", "")
