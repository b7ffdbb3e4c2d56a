"""One upstream HTTP/1.1 connection (`Connection`, an asyncio protocol fed to httptools) and the
pool of them (`Pool`: idle connections by destination, a cap on how many are open, waiters)."""

import asyncio
from collections import deque

import httptools
import httpx2

HIGH_WATER = 1 << 18  # bytes of body buffered before reading from the socket pauses


class Connection(asyncio.Protocol):
    """One upstream connection and the answer being read on it (httptools calls the `on_*`
    methods from `data_received`)."""

    def __init__(self, key: tuple) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.failure: Exception | None = None  # why the connection ended early
        self.waiter: asyncio.Future | None = None  # woken by the head, body data, the end or a failure
        self.paused = False
        self.in_flight = True  # a request was sent and its answer is not fully read
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.header_list: list[tuple[str, str]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.until_close = False  # a body without length or chunking: it ends when the connection does
        self.body: list[bytes] = []
        self.buffered = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.in_flight:  # bytes while idle: nothing was asked, the connection cannot be trusted
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx2.RemoteProtocolError(f"The upstream's answer is not valid HTTP: {exc}"))
            return
        if self.buffered > HIGH_WATER and not self.paused and not self.complete:
            self.paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and self.until_close and not self.complete:
            self.complete = True  # the close ends such a body
            self._wake()
        elif not self.complete:
            if exc is None:
                self._fail(httpx2.RemoteProtocolError("Server disconnected before the answer was complete."))
            else:
                self._fail(httpx2.ReadError(str(exc) or type(exc).__name__))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return  # bytes after the answer (see on_body)
        self.header_list.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        if self.complete:
            self.keep_alive = False  # bytes after the answer (see on_body)
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self.header_list = []
            return
        self.status = status
        self.head_done = True
        if status not in (204, 304):
            names = {name.lower() for name, _ in self.header_list}
            self.until_close = "content-length" not in names and "transfer-encoding" not in names
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:  # more than the answer held: the connection cannot be trusted again
            self.keep_alive = False
            return
        self.body.append(body)
        self.buffered += len(body)
        self._wake()

    def on_message_complete(self) -> None:
        if not self.head_done or self.complete:
            return  # the end of an interim answer, or of bytes after the answer (see on_body)
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # (llhttp forgets it once this returns)
        self._wake()

    # for the transport and the response

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self.failure is None:
            self.failure = exc
        self.close()
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def wait(self, timeout: float | None) -> None:
        """Wait until something arrives (head, body, end) or the connection fails."""
        if self.failure is not None:
            raise self.failure
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        expiry = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            self.close()
            raise httpx2.ReadTimeout("Timed out waiting for the upstream's answer.") from None
        finally:
            if expiry is not None:
                expiry.cancel()
        if self.failure is not None:
            raise self.failure

    def take_body(self) -> bytes:
        body = self.body
        data = body[0] if len(body) == 1 else b"".join(body)
        self.body = []
        self.buffered = 0
        return data

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self.failure is None

    def ready_for_next(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.in_flight = False
        self._reset()


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Pool:
    """Idle connections by (host, port, TLS, server name), and a cap on how many are open."""

    def __init__(self, limit: int, keepalive_expiry: float) -> None:
        self.limit = limit
        self.keepalive_expiry = keepalive_expiry
        self.idle: dict[tuple, deque[Connection]] = {}
        self.open = 0
        self.busy: set[Connection] = set()
        self.waiters: deque[asyncio.Future] = deque()

    def take_idle(self, key: tuple, now: float) -> Connection | None:
        idle = self.idle.get(key)
        while idle:
            connection = idle.pop()
            if (
                connection.closed
                or connection.transport.is_closing()
                or now - connection.idle_since > self.keepalive_expiry
            ):
                self.forget(connection)
                connection.close()
                continue
            self.busy.add(connection)
            connection.in_flight = True
            return connection
        return None

    def close_one_idle(self) -> bool:
        """Close the oldest idle connection of any key, to make room under the limit."""
        for idle in self.idle.values():
            if idle:
                connection = idle.popleft()
                self.forget(connection)
                connection.close()
                return True
        return False

    def give_back(self, connection: Connection, now: float) -> None:
        self.busy.discard(connection)
        if connection.reusable():
            connection.ready_for_next()
            connection.idle_since = now
            self.idle.setdefault(connection.key, deque()).append(connection)
            self._wake_waiter()
        else:
            connection.close()
            self.forget(connection)

    def forget(self, connection: Connection) -> None:
        """`connection` no longer counts against the limit (closed)."""
        if connection.key is not None:
            connection.key = None  # counted once
            self.open -= 1
            self._wake_waiter()

    def _wake_waiter(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
