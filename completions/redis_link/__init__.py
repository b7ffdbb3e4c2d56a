"""The request path's link to Redis: a minimal asyncio client, and a back-off while Redis is away.

redis-py's asyncio client spends about 0.5 ms of CPU per command (connection pool, response
callbacks); `RespConnection` writes each command at once on a single connection and one reader task
answers the waiting futures in order, which costs a few tens of microseconds. It speaks RESP2 and
knows only what the limit and breaker counters need: EVALSHA (loading the script on NOSCRIPT), DEL,
AUTH and SELECT.

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
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings

logger = logging.getLogger("g4f.redis")
RETRY_SECONDS = 1.0


class RedisReplyError(Exception):
    """Redis answered with an error."""


class RedisUnavailable(Exception):
    """Redis cannot be reached now: refused, timed out, lost, or still in its back-off."""


def _encode(args: tuple) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RespConnection:
    """Commands from any task of one event loop share one connection; replies come in order. A
    command that times out drops the connection (a hung server's replies are not waited for)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        self.password = unquote(parsed.password) if parsed.password else None
        self.db = int(parsed.path.strip("/") or 0)
        self.timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: deque[asyncio.Future] = deque()
        self._connecting: asyncio.Lock | None = None

    async def call(self, *args: Any) -> Any:
        """Send one command; its reply (a RedisReplyError instance for an error reply). Raises
        OSError if the connection fails, TimeoutError after `timeout` seconds."""
        if self._writer is None:
            await self._connect()
        writer, waiting = self._writer, self._waiting
        if writer.is_closing():  # lost since the last reply (uvloop raises RuntimeError on a write)
            self._drop(writer, waiting, "closed")
            raise ConnectionError("Redis connection lost: closed")
        future = asyncio.get_running_loop().create_future()
        waiting.append(future)
        try:
            writer.write(_encode(args))
        except (OSError, RuntimeError) as exc:  # the transport closed under us
            future.cancel()
            self._drop(writer, waiting, type(exc).__name__)
            raise ConnectionError(f"Redis connection lost: {type(exc).__name__}") from exc
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            self._drop(writer, waiting, "timed out")
            raise

    async def _connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is not None:
                return
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
            self._writer, self._waiting = writer, deque()
            asyncio.ensure_future(self._read(reader, writer, self._waiting))
            if self.password:
                await self.call("AUTH", self.password)
            if self.db:
                await self.call("SELECT", self.db)

    def _drop(self, writer: asyncio.StreamWriter, waiting: deque, why: str) -> None:
        """Forget the connection `writer` (if still current) and fail whoever waits on it."""
        if self._writer is writer:
            self._writer = None
        while waiting:
            future = waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"Redis connection lost: {why}"))
        writer.close()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, waiting: deque) -> None:
        try:
            while True:
                reply = await _reply(reader)
                future = waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except (OSError, EOFError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            self._drop(writer, waiting, type(exc).__name__)  # reconnect on the next command


async def _reply(reader: asyncio.StreamReader) -> Any:
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [await _reply(reader) for _ in range(size)]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RedisReplyError(rest.decode(errors="replace"))
    raise ConnectionError("unreadable reply")


class Script:
    """A Lua script run by EVALSHA, loaded into Redis the first time it is missing."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, connection: "RespConnection | RedisLink", keys: tuple | list, args: list) -> Any:
        reply = await connection.call("EVALSHA", self.sha, len(keys), *keys, *args)
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

    async def call(self, *args: Any) -> Any:
        """Send one command; its reply (a RedisReplyError instance for an error reply). Raises
        RedisUnavailable at once while backing off, or when this try fails."""
        if not self.reachable:
            now = time.monotonic()
            if now < self._retry_at:
                raise RedisUnavailable("backing off")
            self._retry_at = now + self.retry_seconds  # this command is the one try of this period
        try:
            reply = await self._connection().call(*args)
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
