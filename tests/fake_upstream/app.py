"""The fake upstream's ASGI application: routes a path to its protocol module, applies faults and timing.

Paths are ``/{provider}/{segment}/{route}``. Any provider name works; ``segment`` picks the protocol
module from :data:`PROTOCOLS` (``v1`` is OpenAI, ``anthropic`` Anthropic, ``v1beta`` Gemini).
``GET /files/...`` (``files.py``: the PNG image URLs point to, a redirect) is not a provider name.
Every request is recorded before any fault applies.

Adding a protocol: write ``<name>_protocol.py`` next to this file defining NAME, SEGMENT, handle,
error_reply, empty_reply and model_name (the contract is :class:`wire.ProtocolModule`), import it here and
add it to :data:`PROTOCOLS`. Faults, timing, recording and ``provider_url(name, protocol=NAME)`` then work
for it unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from . import anthropic_protocol, faults, gemini_protocol, openai_protocol, shapes
from .faults import Fault
from .files import file_reply
from .state import RecordedRequest
from .wire import ProtocolModule, Reply, Request, parse_multipart

if TYPE_CHECKING:
    from .server import FakeUpstream

logger = logging.getLogger(__name__)

PROTOCOLS: dict[str, ProtocolModule] = {
    module.NAME: module for module in (openai_protocol, anthropic_protocol, gemini_protocol)
}
_BY_SEGMENT: dict[str, ProtocolModule] = {module.SEGMENT: module for module in PROTOCOLS.values()}

_NOT_FOUND = orjson.dumps(
    {
        "error": {
            "message": "No fake protocol at this path.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
)


class FakeApp:
    """The ASGI application. Protocol modules build replies; this class does the I/O and the timing."""

    def __init__(self, fake: FakeUpstream) -> None:
        self._fake = fake
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._fault_handlers = {
            **{mode: self._status for mode in faults.STATUS_MODES},
            "slow": self._slow,
            "timeout": self._slow,
            "hang": self._hang,
            "cut": self._cut,
            "malformed": self._malformed,
            "bomb": self._bomb,
            "empty": self._empty,
            **dict.fromkeys(shapes.SHAPE_MODES, self._odd_shape),
        }

    def wake_all(self) -> None:
        """Called from the test thread by stop(): ends every pending sleep and hang."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        provider = scope["path"].lstrip("/").partition("/")[0]
        self._fake.track(provider, 1)
        try:
            await self._serve(scope, receive, send)
        finally:
            self._fake.track(provider, -1)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await _read_body(receive)
        request, protocol = self._parse(scope, body)
        if request.provider == "files" and (reply := file_reply(request)) is not None:
            await self._send(send, reply)
            return
        if protocol is None:
            await self._send(send, Reply(404, ((b"content-type", b"application/json"),), _NOT_FOUND))
            return
        fault = (
            faults.fault_from_header(request.headers.get("x-fake-fault"))
            or faults.fault_from_model(protocol.model_name(request))
            or self._fake.take_fault(request.provider)
        )
        if fault is None:
            if not await self._pause(request.options["delay"]):
                await self._send(send, self._normal(protocol, request), request.options["chunk_delay"], receive=receive)
        else:
            await self._fault_handlers[fault.mode](request, protocol, fault, receive, send)

    def _parse(self, scope: dict[str, Any], body: bytes) -> tuple[Request, ProtocolModule | None]:
        """Parse and record the request; the protocol module is None if no module serves the path."""
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        path: str = scope["path"]
        provider, _, rest = path.lstrip("/").partition("/")
        segment, _, route = rest.partition("/")
        protocol = _BY_SEGMENT.get(segment) if provider != "files" else None
        content_type = headers.get("content-type", "")
        form, parsed = None, None
        if content_type.startswith("multipart/form-data"):
            form = parse_multipart(body, content_type)
        elif body:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                parsed = None
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        recorded_provider = provider if provider and provider != "files" else None
        self._fake.record(RecordedRequest(recorded_provider, scope["method"], path, headers, parsed, body, query, form))
        request = Request(
            provider=provider,
            method=scope["method"],
            path=path,
            route=route,
            headers=headers,
            query=query,
            body=body,
            json=parsed,
            form=form,
            options=self._fake.options_for(provider),
            base_url=self._fake.base_url,
        )
        return request, protocol

    @staticmethod
    def _normal(protocol: ProtocolModule, request: Request) -> Reply:
        try:
            return protocol.handle(request)
        except Exception as exc:  # a bug in the fake must show in the test, not as a bare 500
            logger.exception("fake upstream protocol %s failed", protocol.NAME)
            return protocol.error_reply(request, 500, message=f"fake upstream bug: {exc!r}")

    # --- fault handlers: (request, protocol, fault, receive, send) ------------------------------

    async def _status(self, request: Request, protocol: ProtocolModule, fault: Fault, receive: Any, send: Any) -> None:
        status = int(fault.mode)
        retry_after = fault.retry_after if status == 429 else None
        await self._send(send, protocol.error_reply(request, status, retry_after=retry_after, message=fault.message))

    async def _slow(self, request: Request, protocol: ProtocolModule, fault: Fault, receive: Any, send: Any) -> None:
        if not await self._pause(fault.wait_seconds):
            await self._send(send, self._normal(protocol, request), request.options["chunk_delay"])

    async def _hang(self, request: Request, protocol: ProtocolModule, fault: Fault, receive: Any, send: Any) -> None:
        """Answer nothing until the client disconnects or the server stops."""
        assert self._stopping is not None
        waiters = {asyncio.ensure_future(receive()), asyncio.ensure_future(self._stopping.wait())}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def _cut(self, request: Request, protocol: ProtocolModule, fault: Fault, receive: Any, send: Any) -> None:
        await self._send(send, self._normal(protocol, request), request.options["chunk_delay"], cut=True)

    async def _malformed(
        self, request: Request, protocol: ProtocolModule, fault: Fault, receive: Any, send: Any
    ) -> None:
        await self._send(send, faults.malformed(self._normal(protocol, request)), request.options["chunk_delay"])

    async def _bomb(self, request: Request, protocol: ProtocolModule, fault: Fault, receive: Any, send: Any) -> None:
        await self._send(send, faults.bomb(self._normal(protocol, request)))

    async def _odd_shape(
        self, request: Request, protocol: ProtocolModule, fault: Fault, receive: Any, send: Any
    ) -> None:
        await self._send(send, shapes.odd_shape(self._normal(protocol, request), fault.mode))

    async def _empty(self, request: Request, protocol: ProtocolModule, fault: Fault, receive: Any, send: Any) -> None:
        await self._send(send, protocol.empty_reply(request))

    # --- I/O -------------------------------------------------------------------------------------

    async def _pause(self, seconds: float, gone: asyncio.Future | None = None) -> bool:
        """Sleep ``seconds`` unless the server stops (or the client goes) first; True if so."""
        assert self._stopping is not None
        if gone is not None and gone.done():
            return True
        if seconds > 0 and not self._stopping.is_set():
            waiters = {asyncio.ensure_future(self._stopping.wait())}
            if gone is not None:
                waiters.add(gone)
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                if waiter is not gone:
                    waiter.cancel()
        return self._stopping.is_set() or (gone is not None and gone.done())

    async def _send(
        self, send: Any, reply: Reply, chunk_delay: float = 0.0, *, cut: bool = False, receive: Any = None
    ) -> None:
        """Send ``reply``. With ``cut``, send about half and return without finishing the response:
        uvicorn then closes the connection, so the client sees a truncated body or stream. Given
        ``receive``, a paced stream stops as soon as the client disconnects, as a real upstream does."""
        if not reply.is_stream:
            headers = [*reply.headers, (b"content-length", str(len(reply.body)).encode())]
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            body = reply.body[: len(reply.body) // 2] if cut else reply.body
            await send({"type": "http.response.body", "body": body, "more_body": cut})
            return
        events = reply.events
        if cut:  # half the events never reaches the finishing event or [DONE], the last two
            events = events[: max(1, min(len(events) // 2, len(events) - 2))]
        await send({"type": "http.response.start", "status": reply.status, "headers": list(reply.headers)})
        gone = asyncio.ensure_future(_wait_disconnect(receive)) if receive is not None and chunk_delay else None
        try:
            for index, event in enumerate(events):
                if index and chunk_delay and await self._pause(chunk_delay, gone):
                    return
                await send({"type": "http.response.body", "body": event, "more_body": True})
            if not cut:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if gone is not None:
                gone.cancel()


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
