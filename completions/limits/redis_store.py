"""Key limits in Redis, shared by every instance that sets the same `REDIS_URL`.

One Lua script checks and takes an admission atomically, another settles a request: one round trip
each. Keys carry the key id in a hash tag (`g4f:key:{7}:rpm`) so one key's counters share a slot.
Windows: INCR, then PEXPIRE 60 s on the window's first request. In flight: INCR/DECR with a safety
TTL (LIMITS_INFLIGHT_TTL, renewed at each admission) so slots a dead process held expire.

While Redis cannot be reached (`completions.redis_link`: short timeouts, one try a second), admissions
are counted per instance in a fallback file store (`<data dir>/key-limits-fallback.bin`, shared by
the processes of one data directory), and released there. A budget counts the spend this process
last saw in Redis for the key plus the spend counted in the fallback, so a spent budget stays spent.
"""

import logging
import time
from collections.abc import Awaitable
from dataclasses import replace

import redis

from catalogue.snapshot import ApiKeyEntry
from completions.limits import WINDOW, Admission, Counters, rate_headers, refusal, spend_period
from completions.limits.file_store import FileKeyLimiter
from completions.redis_link import RedisLink, RedisReplyError, RedisUnavailable, Script
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.limits")

ADMIT = """
local rpm, tpm, maxc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local budget, est, ttl, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local rc = tonumber(redis.call('GET', KEYS[1]) or '0')
local tc = tonumber(redis.call('GET', KEYS[2]) or '0')
local spent = redis.call('GET', KEYS[4]) or '0'
local function answer(reason)
  return {reason, rc, redis.call('PTTL', KEYS[1]), tc, redis.call('PTTL', KEYS[2]), spent}
end
if budget >= 0 and tonumber(spent) >= budget then return answer('quota') end
if maxc > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= maxc then return answer('concurrency') end
if rpm > 0 and rc >= rpm then return answer('rpm') end
if tpm > 0 and (tc >= tpm or (tc > 0 and tc + est > tpm)) then return answer('tpm') end
if rpm > 0 then
  rc = redis.call('INCR', KEYS[1])
  if rc == 1 then redis.call('PEXPIRE', KEYS[1], window) end
end
if tpm > 0 then
  tc = redis.call('INCRBY', KEYS[2], est)
  if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], window) end
end
if maxc > 0 then
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ttl)
end
return answer('')
"""

RELEASE = """
if ARGV[1] == '1' and redis.call('DECR', KEYS[2]) < 0 then redis.call('SET', KEYS[2], 0, 'KEEPTTL') end
local delta = tonumber(ARGV[2])
if delta ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 and redis.call('INCRBY', KEYS[1], delta) < 0 then
  redis.call('SET', KEYS[1], 0, 'KEEPTTL')
end
if tonumber(ARGV[3]) > 0 then
  redis.call('INCRBYFLOAT', KEYS[3], ARGV[3])
  if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
end
return 1
"""

SPEND_TTL = {"day": 2 * 86400, "month": 32 * 86400, "total": 0}


def _keys(key: ApiKeyEntry, period: int) -> tuple[str, str, str, str]:
    base = f"g4f:key:{{{key.id}}}"
    return f"{base}:rpm", f"{base}:tpm", f"{base}:inflight", f"{base}:spend:{key.budget_period}:{period}"


class RedisKeyLimiter:
    """The KeyLimiter over Redis, with `fallback` counting while Redis is unreachable; see the module
    docstring."""

    admit_script = Script(ADMIT)
    release_script = Script(RELEASE)

    def __init__(self, link: RedisLink, fallback: FileKeyLimiter) -> None:
        self.link = link
        self.fallback = fallback
        self._spent: dict[int, tuple[int, float]] = {}  # key id: (period, spend) as last read from Redis

    async def admit(self, key: ApiKeyEntry, estimated_tokens: int) -> Admission:
        return await self.admit_soon(key, estimated_tokens)

    def admit_soon(self, key: ApiKeyEntry, estimated_tokens: int) -> Awaitable[Admission]:
        """KeyLimiter.admit_soon: the script's command is written before this returns."""
        period = spend_period(key.budget_period, time.time())
        budget = -1 if key.budget is None else key.budget
        args = [key.rpm or 0, key.tpm or 0, key.max_concurrent or 0, repr(float(budget)), estimated_tokens]
        args += [int(gateway_settings.LIMITS_INFLIGHT_TTL), int(WINDOW * 1000)]
        answer = self.admit_script(self.link, _keys(key, period), args, now=True)
        return self._admission(answer, key, estimated_tokens, period)

    async def _admission(self, pending: Awaitable, key: ApiKeyEntry, estimated_tokens: int, period: int) -> Admission:
        try:
            answer = await pending
            reason, requests, requests_ttl, tokens, tokens_ttl, spent = answer
        except (RedisUnavailable, RedisReplyError) as exc:
            if isinstance(exc, RedisReplyError):
                logger.error("Key limits: Redis refused the admission: %s", exc)
            known_period, known_spent = self._spent.get(key.id, (period, 0.0))
            spent_elsewhere = known_spent if known_period == period else 0.0
            return await self.fallback.admit(key, estimated_tokens, spent_elsewhere=spent_elsewhere)
        if key.budget is not None:
            self._spent[key.id] = (period, float(spent))
        reason = reason.decode() if isinstance(reason, bytes) else reason
        counters = Counters(int(requests), _seconds(requests_ttl), int(tokens), _seconds(tokens_ttl))
        return Admission(
            key=key,
            period=period,
            reserved_tokens=estimated_tokens,
            holds_slot=bool(key.max_concurrent) and not reason,
            headers=rate_headers(key, counters),
            refused=refusal(reason, key, counters) if reason else None,
        )

    async def release(self, admission: Admission, *, tokens: int, cost: float) -> None:
        if admission.local:
            await self.fallback.release(admission, tokens=tokens, cost=cost)
            return
        key = admission.key
        delta = tokens - admission.reserved_tokens if key.tpm else 0
        spent = cost if key.budget is not None else 0.0
        args = ["1" if admission.holds_slot else "0", delta, f"{spent:.12f}", SPEND_TTL.get(key.budget_period, 0)]
        _, tpm_key, inflight_key, spend_key = _keys(key, admission.period)
        try:
            await self.release_script(self.link, (tpm_key, inflight_key, spend_key), args)
        except (RedisUnavailable, RedisReplyError) as exc:
            # The slot expires with LIMITS_INFLIGHT_TTL; the spend is counted in the fallback.
            logger.warning("Key limits: could not release a request in Redis: %s", type(exc).__name__)
            if spent:
                settled = replace(admission, reserved_tokens=0, holds_slot=False, local=True)
                await self.fallback.release(settled, tokens=0, cost=spent)

    def spend(self, key: ApiKeyEntry) -> float:
        client = redis.Redis.from_url(self.link.url, socket_timeout=5)
        try:
            value = client.get(_keys(key, spend_period(key.budget_period, time.time()))[3])
        finally:
            client.close()
        return float(value) if value else 0.0


def _seconds(pttl: int) -> float:
    """Seconds left of a window from PTTL (-2: no window yet, a full one would start)."""
    return pttl / 1000 if pttl > 0 else WINDOW
