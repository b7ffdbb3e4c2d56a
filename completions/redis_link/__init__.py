"""The request path's link to Redis: a minimal asyncio client, and a back-off while Redis is away.

redis-py's asyncio client spends about 0.5 ms of CPU per command (connection pool, response
callbacks); `RespConnection` sends the commands of one turn of the event loop in one write on a
single connection, and its protocol parses the replies as they arrive and answers the waiting
futures in order (no reader task, no StreamReader). It speaks RESP2 and knows only what the
limit and breaker counters need: EVALSHA (loading the script on NOSCRIPT), DEL, AUTH and SELECT.

`RedisLink` (one per Redis URL and process, `redis_link()`) is what callers use: each command waits
at most `G4F_REDIS_TIMEOUT` seconds (0.5), and after a failure the link is *down*: commands fail at
once with `RedisUnavailable` for `RETRY_SECONDS`, then one command tries again, so a stopped or hung
Redis costs one short wait per second per process, never one per request. Callers fall back to
counting in the instance (key limits: `completions.limits`; breaker: `completions.routing.health_shared`).
"""

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings

logger = logging.getLogger("g4f.redis")
RETRY_SECONDS = 1.0


class RedisReplyError(Exception):
    """Redis answered with an error."""


async def _raising(exc: BaseException) -> Any:
    raise exc


class RedisUnavailable(Exception):
    """Redis cannot be reached now: refused, timed out, lost, or still in its back-off."""


def _encode(args: tuple) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Incomplete(Exception):
    """The buffer ends inside a reply."""


def _parse(buffer: bytes, position: int) -> tuple[Any, int]:
    """The RESP2 reply starting at `position` and where the next begins; raises _Incomplete."""
    end = buffer.find(b"\r\n", position)
    if end < 0:
        raise _Incomplete
    kind, rest = buffer[position], buffer[position + 1 : end]
    if kind == 0x3A:  # :integer
        return int(rest), end + 2
    if kind == 0x24:  # $bulk
        size = int(rest)
        if size < 0:
            return None, end + 2
        stop = end + 2 + size
        if stop + 2 > len(buffer):
            raise _Incomplete
        return buffer[end + 2 : stop], stop + 2
    if kind == 0x2A:  # *array
        size = int(rest)
        if size < 0:
            return None, end + 2
        items, position = [], end + 2
        for _ in range(size):
            item, position = _parse(buffer, position)
            items.append(item)
        return items, position
    if kind == 0x2B:  # +simple
        return rest, end + 2
    if kind == 0x2D:  # -error
        return RedisReplyError(rest.decode(errors="replace")), end + 2
    raise ValueError("unreadable reply")


class _RespProtocol(asyncio.Protocol):
    """One connection: replies answer the waiting futures in order, parsed as they arrive. The
    commands of one turn of the event loop go out in one write (`queue`)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future] = deque()
        self.buffer = b""
        self.closed = False
        self.outgoing: list[bytes] = []

    def queue(self, command: bytes, now: bool = False) -> None:
        """Send `command` with the others queued in this turn of the loop, at its end; with `now`,
        at once unless others already wait for the turn's end (then with them)."""
        if not self.outgoing:
            if now:
                self.outgoing.append(command)
                self.flush()
                return
            asyncio.get_running_loop().call_soon(self.flush)
        self.outgoing.append(command)

    def flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if self.closed or not outgoing:
            return  # whoever waited was told; or sent at once already
        try:
            self.transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))
        except (OSError, RuntimeError) as exc:  # the transport closed under us (uvloop: RuntimeError)
            self.fail(type(exc).__name__)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        position, waiting = 0, self.waiting
        try:
            while position < len(buffer):
                reply, position = _parse(buffer, position)
                future = waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except _Incomplete:
            pass
        except (ValueError, IndexError) as exc:  # not RESP, or a reply nobody asked for
            self.fail(type(exc).__name__)
            return
        self.buffer = buffer[position:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail("closed")

    def fail(self, why: str) -> None:
        """Close the connection and fail whoever waits on it."""
        self.closed = True
        waiting = self.waiting
        while waiting:
            future = waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"Redis connection lost: {why}"))
        if self.transport is not None:
            self.transport.close()


class RespConnection:
    """Commands from any task of one event loop share one connection; replies come in order. A
    command that times out drops the connection (a hung server's replies are not waited for)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        self.password = unquote(parsed.password) if parsed.password else None
        self.db = int(parsed.path.strip("/") or 0)
        self.timeout = timeout
        self._protocol: _RespProtocol | None = None
        self._connecting: asyncio.Lock | None = None

    def start(self, *args: Any, now: bool = False) -> Awaitable[Any]:
        """Send one command; the awaitable gives its reply (a RedisReplyError instance for an error
        reply) or raises OSError if the connection fails, TimeoutError after `timeout` seconds. With
        `now` and the connection up, the command is written before this returns (`_RespProtocol.queue`)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            return self._connect_and_call(args)
        try:
            future = self._send(protocol, args, now)
        except ConnectionError as exc:
            return _raising(exc)
        return self._reply(protocol, future)

    async def call(self, *args: Any) -> Any:
        return await self.start(*args)

    async def _connect_and_call(self, args: tuple) -> Any:
        protocol = await self._connect()
        return await self._reply(protocol, self._send(protocol, args))

    async def _reply(self, protocol: _RespProtocol, future: asyncio.Future) -> Any:
        expiry = future.get_loop().call_later(self.timeout, self._expire, protocol, future)
        try:
            return await future
        finally:
            expiry.cancel()

    def _send(self, protocol: _RespProtocol, args: tuple, now: bool = False) -> asyncio.Future:
        if protocol.transport.is_closing():  # lost since the last reply
            protocol.fail("closed")
            raise ConnectionError("Redis connection lost: closed")
        future = asyncio.get_running_loop().create_future()
        protocol.waiting.append(future)
        protocol.queue(_encode(args), now)
        return future

    @staticmethod
    def _expire(protocol: _RespProtocol, future: asyncio.Future) -> None:
        if not future.done():
            future.set_exception(TimeoutError("Redis did not answer in time"))
            protocol.fail("timed out")

    async def _connect(self) -> _RespProtocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            protocol = self._protocol
            if protocol is not None and not protocol.closed:
                return protocol
            loop = asyncio.get_running_loop()
            connecting = loop.create_connection(_RespProtocol, self.host, self.port)
            _, protocol = await asyncio.wait_for(connecting, self.timeout)
            if self.password:
                await self._handshake(protocol, "AUTH", self.password)
            if self.db:
                await self._handshake(protocol, "SELECT", self.db)
            self._protocol = protocol
            return protocol

    async def _handshake(self, protocol: _RespProtocol, *args: Any) -> None:
        try:
            reply = await asyncio.wait_for(self._send(protocol, args), self.timeout)
        except BaseException:
            protocol.fail("handshake failed")
            raise
        if isinstance(reply, RedisReplyError):
            protocol.fail("refused")
            raise ConnectionError(f"Redis refused {args[0]}: {reply}")


class Script:
    """A Lua script run by EVALSHA, loaded into Redis the first time it is missing."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(
        self, connection: "RespConnection | RedisLink", keys: tuple | list, args: list, *, now: bool = False
    ) -> Awaitable[Any]:
        """Run the script; `now`: its command is written before this returns (`RespConnection.start`)."""
        first = connection.start("EVALSHA", self.sha, len(keys), *keys, *args, now=now)
        return self._result(connection, first, keys, args)

    async def _result(self, connection: "RespConnection | RedisLink", first: Awaitable, keys, args: list) -> Any:
        reply = await first
        if isinstance(reply, RedisReplyError) and str(reply).startswith("NOSCRIPT"):
            await connection.call("SCRIPT", "LOAD", self.source)
            reply = await connection.call("EVALSHA", self.sha, len(keys), *keys, *args)
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply


class RedisLink:
    """One Redis server for this process: a `RespConnection` per event loop, and the back-off (see
    the module docstring). `reachable` is False from a failure until a command succeeds again."""

    def __init__(self, url: str, timeout: float, retry_seconds: float = RETRY_SECONDS) -> None:
        self.url = url
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.reachable = True
        self._retry_at = float("-inf")
        self._connections: dict[int, RespConnection] = {}

    def _connection(self) -> RespConnection:
        loop_id = id(asyncio.get_running_loop())
        connection = self._connections.get(loop_id)
        if connection is None:
            connection = self._connections[loop_id] = RespConnection(self.url, self.timeout)
        return connection

    def backing_off(self) -> bool:
        """Whether a command now would fail at once without trying (Redis failed less than
        `retry_seconds` ago)."""
        return not self.reachable and time.monotonic() < self._retry_at

    def start(self, *args: Any, now: bool = False) -> Awaitable[Any]:
        """Send one command (with `now`, written before this returns: `RespConnection.start`); the
        awaitable gives its reply (a RedisReplyError instance for an error reply), or raises
        RedisUnavailable at once while backing off, or when this try fails."""
        if not self.reachable:
            moment = time.monotonic()
            if moment < self._retry_at:
                return _raising(RedisUnavailable("backing off"))
            self._retry_at = moment + self.retry_seconds  # this command is the one try of this period
        return self._outcome(self._connection().start(*args, now=now))

    async def call(self, *args: Any) -> Any:
        return await self.start(*args)

    async def _outcome(self, pending: Awaitable[Any]) -> Any:
        try:
            reply = await pending
        except (OSError, TimeoutError) as exc:  # ConnectionError is an OSError
            self._retry_at = time.monotonic() + self.retry_seconds
            if self.reachable:
                self.reachable = False
                logger.warning("Redis unreachable (%s): counting in this instance until it answers", type(exc).__name__)
            raise RedisUnavailable(type(exc).__name__) from exc
        if not self.reachable:
            self.reachable = True
            logger.warning("Redis answers again: shared counting resumed")
        return reply


_links: dict[str, RedisLink] = {}


def redis_link(url: str | None = None) -> RedisLink | None:
    """This process's link to `url` (default: the `REDIS_URL` setting); None when there is no URL."""
    url = getattr(settings, "REDIS_URL", "") if url is None else url
    if not url:
        return None
    link = _links.get(url)
    if link is None:
        link = _links[url] = RedisLink(url, float(getattr(settings, "REDIS_TIMEOUT", 0.5)))
    return link
