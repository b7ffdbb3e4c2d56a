"""uvicorn's httptools protocol with the writes of one turn of the event loop sent as one.

uvicorn writes a response's status line and headers the moment the application sends
`http.response.start`, and its body in a second write: two system calls and two TCP segments per
answer, the first of which wakes the client only for it to wait for the second. On this project's
virtual machines a wake-up across cores costs the writer 20–200 µs of CPU. `GatewayHttpProtocol`
hands the request cycle a transport whose writes are joined and sent at the end of the loop's turn,
so a response sent in one turn (every non-streamed answer) leaves in one write, and a streamed
batch of events in one write per turn. Nothing waits longer than the turn it was written in.

`g4f api`, `manage.py api` and the gunicorn workers (`g4fsite.gunicorn_conf`) serve with it; on the
uvicorn command line it is `--http g4fsite.http_protocol:GatewayHttpProtocol` (`HTTP_PROTOCOL`).
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HTTP_PROTOCOL = "g4fsite.http_protocol:GatewayHttpProtocol"  # uvicorn's `http` setting


class BatchedWrites:
    """A transport whose `write`s go out together at the end of the loop's turn. Everything else
    is the wrapped transport's; `close` sends what is pending first."""

    __slots__ = ("transport", "loop", "pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append(data)

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        if pending and not self.transport.is_closing():  # a client gone: nothing to send it
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's `HttpToolsProtocol`, its responses written through `BatchedWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = BatchedWrites(transport, self.loop)  # type: ignore[assignment]

    def handle_websocket_upgrade(self) -> None:
        # A WebSocket protocol takes over the connection itself: give it the real transport.
        batched = self.transport
        if isinstance(batched, BatchedWrites):
            batched.flush()
            self.transport = batched.transport
        super().handle_websocket_upgrade()
