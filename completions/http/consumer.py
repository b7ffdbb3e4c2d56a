"""The base Channels consumer for gateway endpoints that wait on an upstream.

It reads the body itself instead of going through `AsyncConsumer.dispatch`, which would hop to a
thread (`aclose_old_connections`) for every message; the request path needs no database. While the
handler runs, a second task listens for `http.disconnect` and cancels the handler when the client
goes away (Channels does not deliver the disconnect during `handle()`: channels issue #1249).
"""

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import orjson
from channels.generic.http import AsyncHttpConsumer

from catalogue.selectors import acatalogue_snapshot, acatalogue_snapshot_rechecked
from catalogue.services import api_key_hash
from catalogue.snapshot import CatalogueSnapshot
from completions import errors
from completions.auth import ANONYMOUS, Caller, authenticate, key_from_headers
from completions.http.cors import cors_headers, preflight_headers
from completions.limits import Admission, key_limiter
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.request")

JSON = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The client disconnected before the request body arrived."""


class GatewayHttpConsumer(AsyncHttpConsumer):
    """Subclasses implement `serve(body)`; errors they raise are rendered by `render_error` (the
    OpenAI shape unless a client protocol overrides it). Endpoints that call an upstream build on
    `completions.http.lifecycle.UpstreamConsumer`."""

    allowed_methods: tuple[str, ...] = ("POST",)
    snapshot: CatalogueSnapshot | None = None  # the request's catalogue, once authenticated
    caller: Caller = ANONYMOUS
    admission: Admission | None = None  # what a limited key's admission took, for `release`
    used_tokens = 0  # the request's tokens and cost (USD), settled by `release` for a limited key
    cost = 0.0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        self.receive = receive
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        self.response_started = False
        self.extra_headers = cors_headers(self.headers.get("origin"))
        try:
            if scope["method"] == "OPTIONS":
                await self.send_response(204, b"", headers=self.extra_headers + preflight_headers())
                return
            if scope["method"] not in self.allowed_methods:
                raise errors.MethodNotAllowed(f"Method {scope['method']} is not allowed here.")
            body = await self.read_body()
            await self.until_disconnect(self.serve(body))
        except ClientGone:
            return
        except errors.GatewayError as exc:
            await self.send_error(exc)
        except Exception:
            logger.exception("Unhandled error serving %s", scope.get("path"))
            await self.send_error(errors.GatewayError())
        finally:
            await self.release()

    async def serve(self, body: bytes) -> None:
        raise NotImplementedError

    async def read_body(self) -> bytes:
        return await self.receive_body(gateway_settings.MAX_REQUEST_BYTES)

    async def receive_body(self, limit: int, what: str = "The request body") -> bytes:
        """The whole body, refused with 413 as soon as it passes `limit` bytes."""
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise errors.RequestTooLarge(f"{what} is larger than {limit} bytes.")
        parts, size = [], 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise errors.RequestTooLarge(f"{what} is larger than {limit} bytes.")
            parts.append(chunk)
            if not message.get("more_body"):
                return b"".join(parts)

    async def until_disconnect(self, work: Any) -> None:
        """Run `work`; cancel it if the client disconnects first (the upstream call goes with it).

        The work runs in this task; a watcher task cancels this task when `http.disconnect` comes
        while the work is still running (a second task for the work plus `asyncio.wait` cost more)."""
        task = asyncio.current_task()
        state = {"running": True, "gone": False}

        async def watch() -> None:
            await self._wait_disconnect()
            if state["running"]:
                state["gone"] = True
                task.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await work
        except asyncio.CancelledError:
            if not state["gone"]:
                self.on_server_cancel()
                raise  # cancelled from outside (server shutdown): not ours to swallow
            task.uncancel()
            await self.on_disconnect()
        finally:
            state["running"] = False
            watcher.cancel()

    async def _wait_disconnect(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return

    async def on_disconnect(self) -> None:
        """Called after the client went away and the work was cancelled."""

    def on_server_cancel(self) -> None:
        """Called when the server cancelled the work: a stop whose grace period ran out."""

    async def authenticate(self) -> Caller:
        """Check the caller's key; keeps the catalogue snapshot in `self.snapshot` for the request. A key
        the snapshot does not know is checked again after reading the shared stamps (it may have been
        created on another instance a moment ago)."""
        self.snapshot = await acatalogue_snapshot()
        key = key_from_headers(self.headers)
        try:
            return authenticate(self.snapshot, key)
        except errors.AuthenticationFailed:
            if not key or self.snapshot.api_keys.get(api_key_hash(key)) is not None:
                raise  # no key, or a known one that expired
            self.snapshot = await acatalogue_snapshot_rechecked()
            return authenticate(self.snapshot, key)

    async def admit(self, estimated_tokens: int = 0) -> None:
        """Let the authenticated caller (`self.caller`) go ahead under its key's limits, or raise
        KeyRateLimited / InsufficientQuota. A limited key's rate headers go on every answer. Called
        once, right after authentication; keys without limits (and the master key) cost one check."""
        admitting = self.admit_soon(estimated_tokens)
        if admitting is not None:
            await admitting

    def admit_soon(self, estimated_tokens: int = 0) -> Awaitable[None] | None:
        """`admit` started now (with Redis its question is on the way when this returns), to be
        awaited before anything else is decided; None for a caller without limits."""
        key = self.caller.key
        if key is None or not key.limited:
            return None
        return self._admitted(key_limiter().admit_soon(key, estimated_tokens))

    async def _admitted(self, admitting: Awaitable[Admission]) -> None:
        admission = await admitting
        if admission.headers:
            self.extra_headers = [*self.extra_headers, *admission.headers]
        if admission.refused is not None:
            raise admission.refused
        self.admission = admission

    async def release(self) -> None:
        """Give back what `admit` took and settle the request's tokens and cost. Called once when the
        request (and its stream) is over, whether it was admitted or not."""
        admission, self.admission = self.admission, None
        if admission is not None:
            try:
                await key_limiter().release(admission, tokens=self.used_tokens, cost=self.cost)
            except Exception:
                logger.exception("Releasing a key's limits failed")

    async def send_headers(self, *, status: int = 200, headers: Any = None) -> None:
        self.response_started = True
        await super().send_headers(status=status, headers=headers)

    async def send_response(self, status: int, body: bytes, *, headers: Any = ()) -> None:
        """A whole answer, with its Content-Length (uvicorn would frame it as chunks otherwise)."""
        if status not in (204, 304):
            headers = [*headers, (b"content-length", b"%d" % len(body))]
        await self.send_headers(status=status, headers=headers)
        await self.base_send({"type": "http.response.body", "body": body})

    async def send_chunk(self, body: bytes) -> None:
        """One more piece of a streamed body (Channels' `send_body` minus two wrappers per chunk)."""
        await self.base_send({"type": "http.response.body", "body": body, "more_body": True})

    async def send_json(self, status: int, data: Any, headers: list[tuple[bytes, bytes]] = ()) -> None:
        await self.send_response(status, orjson.dumps(data), headers=[JSON, *headers, *self.extra_headers])

    def render_error(self, exc: errors.GatewayError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """The error response's status, body and headers: OpenAI's `{"error": {...}}` with Retry-After
        on a 429. A client protocol with its own error shape overrides this."""
        return exc.status_code, errors.error_json(exc), errors.error_headers(exc)

    async def send_error(self, exc: errors.GatewayError) -> None:
        if self.response_started:
            logger.warning("Error after the response started: %s", exc.message)
            return
        status, body, headers = self.render_error(exc)
        await self.send_response(status, body, headers=[*headers, *self.extra_headers])
