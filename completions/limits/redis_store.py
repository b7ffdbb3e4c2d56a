"""Key limits in Redis, shared by every instance that sets the same `REDIS_URL`.

One Lua script checks and takes an admission atomically, another settles a request: one round trip
each. Keys carry the key id in a hash tag (`g4f:key:{7}:rpm`) so one key's counters share a slot.
Windows: INCR, then PEXPIRE 60 s on the window's first request. In flight: INCR/DECR with a safety
TTL (LIMITS_INFLIGHT_TTL, renewed at each admission) so slots a dead process held expire.
"""

import asyncio
import logging
import time

import redis

from catalogue.snapshot import ApiKeyEntry
from completions import errors
from completions.limits import WINDOW, Admission, Counters, rate_headers, refusal, spend_period
from completions.limits.resp import RedisReplyError, RespConnection, Script
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.limits")

ADMIT = """
local rpm, tpm, maxc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local budget, est, ttl, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local rc = tonumber(redis.call('GET', KEYS[1]) or '0')
local tc = tonumber(redis.call('GET', KEYS[2]) or '0')
local function answer(reason)
  return {reason, rc, redis.call('PTTL', KEYS[1]), tc, redis.call('PTTL', KEYS[2])}
end
if budget >= 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= budget then return answer('quota') end
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
    """The KeyLimiter over Redis; see the module docstring. One connection per event loop
    (`completions.limits.resp`)."""

    admit_script = Script(ADMIT)
    release_script = Script(RELEASE)

    def __init__(self, url: str) -> None:
        self.url = url
        self._connections: dict[int, RespConnection] = {}

    def _connection(self) -> RespConnection:
        loop_id = id(asyncio.get_running_loop())
        connection = self._connections.get(loop_id)
        if connection is None:
            connection = self._connections[loop_id] = RespConnection(self.url)
        return connection

    async def admit(self, key: ApiKeyEntry, estimated_tokens: int) -> Admission:
        period = spend_period(key.budget_period, time.time())
        budget = -1 if key.budget is None else key.budget
        args = [key.rpm or 0, key.tpm or 0, key.max_concurrent or 0, repr(float(budget)), estimated_tokens]
        args += [int(gateway_settings.LIMITS_INFLIGHT_TTL), int(WINDOW * 1000)]
        try:
            answer = await self.admit_script(self._connection(), _keys(key, period), args)
            reason, requests, requests_ttl, tokens, tokens_ttl = answer
        except (OSError, TimeoutError, RedisReplyError) as exc:
            logger.error("Key limits: Redis failed: %s", type(exc).__name__)
            raise errors.LimitStoreUnavailable() from exc
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
        key = admission.key
        delta = tokens - admission.reserved_tokens if key.tpm else 0
        spent = cost if key.budget is not None else 0.0
        args = ["1" if admission.holds_slot else "0", delta, f"{spent:.12f}", SPEND_TTL.get(key.budget_period, 0)]
        _, tpm_key, inflight_key, spend_key = _keys(key, admission.period)
        try:
            await self.release_script(self._connection(), (tpm_key, inflight_key, spend_key), args)
        except (OSError, TimeoutError, RedisReplyError) as exc:
            logger.error("Key limits: Redis failed releasing a request: %s", type(exc).__name__)

    def spend(self, key: ApiKeyEntry) -> float:
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        try:
            value = client.get(_keys(key, spend_period(key.budget_period, time.time()))[3])
        finally:
            client.close()
        return float(value) if value else 0.0


def _seconds(pttl: int) -> float:
    """Seconds left of a window from PTTL (-2: no window yet, a full one would start)."""
    return pttl / 1000 if pttl > 0 else WINDOW
