"""The breaker's state that several processes share through Redis, with a per-process fallback.

**Failure counts** (with `REDIS_URL`): each counted failure is added to a sorted set per provider and
kind (`g4f:breaker:{ID}:CREATED:failures` or `:auth`) by one Lua script, which drops the entries older
than `BREAKER_WINDOW`, counts the rest and, on reaching the threshold, empties the set and answers
"open": exactly one process opens the breaker, after exactly the threshold failures in total, however
many processes served them. A success empties the set (`DEL`, not awaited) when its process counted
a failure of that provider since its last reset (known locally, no read), and otherwise at most once a
second per provider and process, so failures another process counted are reset too without a
write per success. Without Redis, or while it is unreachable (`completions.redis_link`: short timeouts,
one try a second), each process counts alone, as `HealthBoard` always did.

**The half-open probe token** is in the Django cache (`cache.aadd`, atomic in Redis). If the cache
fails, the token is taken in this process instead (one probe per process), and the cache is asked
again a second later.
"""

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

from django.core.cache import cache

from catalogue.snapshot import ProviderEntry
from completions.redis_link import RedisLink, RedisUnavailable, Script, redis_link

logger = logging.getLogger("g4f.health")

FAILURES, AUTH = "failures", "auth"
PROBE_KEY = "g4f:health:probe:{id}:{created}"
RESET_INTERVAL = 1.0  # seconds between the resets a process sends for successes alone

COUNT = """
local now, window, threshold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n >= threshold then
  redis.call('DEL', KEYS[1])
  return {n, 1}
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return {n, 0}
"""


def _created(provider_key: tuple) -> str:
    created = provider_key[1]
    return f"{created.timestamp():.6f}" if created is not None else "0"


def _count_key(provider_key: tuple, kind: str) -> str:
    return f"g4f:breaker:{{{provider_key[0]}}}:{_created(provider_key)}:{kind}"


class SharedFailureCounts:
    """Failure counts in Redis for `HealthBoard`; see the module docstring."""

    count_script = Script(COUNT)

    def __init__(self, link: Callable[[], RedisLink | None] = redis_link) -> None:
        self._link = link
        self._member_prefix = f"{uuid.uuid4().hex[:8]}:{os.getpid()}:"
        self._members = count()
        self._last_reset: dict[tuple, float] = {}
        self._tasks: set[asyncio.Task] = set()

    def usable(self) -> bool:
        """Whether a failure should be counted in Redis now: `REDIS_URL` is set, the link is not
        backing off, and an event loop runs (the script is async)."""
        link = self._link()
        if link is None or link.backing_off():
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    async def add(self, provider_key: tuple, kind: str, now: float, threshold: int, window: float) -> tuple[int, bool]:
        """Count one failure; (failures in the window, whether this one reached `threshold` and
        emptied the count). Raises RedisUnavailable (or RedisReplyError) when Redis does not count."""
        link = self._link()
        if link is None:
            raise RedisUnavailable("no REDIS_URL")
        member = f"{self._member_prefix}{next(self._members)}"
        args = [repr(now), repr(float(window)), threshold, member]
        failures, opened = await self.count_script(link, (_count_key(provider_key, kind),), args)
        return int(failures), bool(opened)

    def success(self, provider_key: tuple, *, counted_here: bool) -> None:
        """Reset the provider's counts after a success (not awaited): at once when this process
        counted a failure since its last reset, else at most once per RESET_INTERVAL."""
        link = self._link()
        if link is None or link.backing_off():
            return
        now = time.monotonic()
        if not counted_here and now - self._last_reset.get(provider_key, float("-inf")) < RESET_INTERVAL:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._last_reset[provider_key] = now
        keys = (_count_key(provider_key, FAILURES), _count_key(provider_key, AUTH))
        self.spawn(loop, self._reset(link, keys))

    async def _reset(self, link: RedisLink, keys: tuple[str, str]) -> None:
        try:
            await link.call("DEL", *keys)
        except RedisUnavailable:
            pass  # the back-off is logged by the link; the counts expire with BREAKER_WINDOW

    def spawn(self, loop: asyncio.AbstractEventLoop, work: Awaitable[Any]) -> None:
        """Run `work` on `loop` without waiting for it (a reference is kept until it is done)."""
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# --- half-open probe token ------------------------------------------------------------------------

_local_probes: set[str] = set()
_cache_retry_at = float("-inf")


async def probe_take(provider: ProviderEntry) -> "ProbeToken | None":
    """The provider's probe token, or None when another request holds it."""
    global _cache_retry_at
    key = PROBE_KEY.format(id=provider.id, created=provider.created_at.timestamp() if provider.created_at else 0)
    if time.monotonic() >= _cache_retry_at:
        try:
            taken = await cache.aadd(key, 1, timeout=max(provider.timeout, 1.0) + 5)
        except Exception as exc:  # noqa: BLE001 - whatever the cache backend raises when its server is gone
            _cache_retry_at = time.monotonic() + 1.0
            logger.warning("Probe token: the cache failed (%s); probing from this process alone", type(exc).__name__)
        else:
            return ProbeToken(key, local=False) if taken else None
    if key in _local_probes:
        return None
    _local_probes.add(key)
    return ProbeToken(key, local=True)


class ProbeToken:
    """A held probe token; `release()` gives it back."""

    __slots__ = ("key", "local")

    def __init__(self, key: str, *, local: bool) -> None:
        self.key = key
        self.local = local

    async def release(self) -> None:
        if self.local:
            _local_probes.discard(self.key)
            return
        try:
            await cache.adelete(self.key)
        except Exception as exc:  # noqa: BLE001 - the token expires by itself
            logger.warning("Probe token: could not delete it from the cache (%s)", type(exc).__name__)
