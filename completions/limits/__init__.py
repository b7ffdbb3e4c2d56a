"""Per-key limits: requests and tokens per minute, requests in flight, and spend per budget period.

Every limit is counted in one store that all the gateway's processes share, so it holds exactly
however many processes or instances serve a key: Redis when `REDIS_URL` is set (one Lua script per
admission and one per release, `completions.limits.redis_store`), else a file of fixed-size records
locked with `fcntl` in the data directory (`completions.limits.file_store`).

Rate windows are fixed windows of 60 seconds that start at the window's first request (Redis: INCR
then PEXPIRE on the first). `admit` checks and takes in one atomic step: budget, then concurrency,
then requests, then tokens (the request's estimate is reserved and corrected by `release` to the
tokens the usage reports). `release` also adds the request's cost to the period's spend.

While Redis is unreachable the Redis store counts in a file store of its own, per instance (see
`completions.limits.redis_store`); shared counting resumes when Redis answers again.
"""

import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from catalogue.snapshot import ApiKeyEntry
from completions import errors
from completions.monitoring import metrics
from g4fsite.conf import gateway_settings

WINDOW = 60.0  # seconds of a rate window
Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Admission:
    """What `admit` took for one request, for `release` to give back and settle."""

    key: ApiKeyEntry
    period: int  # the spend period the request was admitted in (`spend_period`)
    reserved_tokens: int
    holds_slot: bool  # counted in the key's requests in flight
    headers: Headers  # the rate headers for every answer of the request
    refused: errors.GatewayError | None = None  # why it may not go ahead (nothing was taken then)
    local: bool = False  # counted in this data directory's file (the file store, or Redis's fallback)


@dataclass(frozen=True, slots=True)
class Counters:
    """A key's counters as one admission saw them: used and seconds to the window's end."""

    requests: int = 0
    requests_reset: float = WINDOW
    tokens: int = 0
    tokens_reset: float = WINDOW


class KeyLimiter(Protocol):
    async def admit(self, key: ApiKeyEntry, estimated_tokens: int) -> Admission:
        """Take one request (and the estimate) for `key`; a refused admission (KeyRateLimited or
        InsufficientQuota in `refused`) takes nothing. Raises LimitStoreUnavailable."""

    def admit_soon(self, key: ApiKeyEntry, estimated_tokens: int) -> Awaitable[Admission]:
        """`admit`, started now: a store that waits for an answer (Redis) sends its question before
        this returns, so the caller can do its own work while it travels, then await the outcome."""

    async def release(self, admission: Admission, *, tokens: int, cost: float) -> None:
        """Give back the request's slot, correct its tokens to `tokens`, add `cost` to the spend."""

    def spend(self, key: ApiKeyEntry) -> float:
        """The key's spend in the current budget period, in USD (sync, for the CLI and the admin)."""


def spend_period(period: str, now: float) -> int:
    """The current budget period's number: days or months since 1970 (UTC), 0 for `total`."""
    if period == "day":
        return int(now // 86400)
    if period == "month":
        moment = time.gmtime(now)
        return moment.tm_year * 12 + moment.tm_mon - 1
    return 0


def reset_text(seconds: float) -> str:
    """A duration as OpenAI's `x-ratelimit-reset-*` headers write it: `1s`, `6m0s`."""
    whole = max(0, math.ceil(seconds))
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


# The reset header's value by whole seconds left in the window (0 to 60).
_RESET_VALUES = [reset_text(seconds).encode() for seconds in range(int(WINDOW) + 1)]


def _reset_value(seconds: float) -> bytes:
    whole = math.ceil(seconds)
    return _RESET_VALUES[whole] if 0 <= whole <= WINDOW else reset_text(seconds).encode()


def rate_headers(key: ApiKeyEntry, counters: Counters) -> Headers:
    """OpenAI's `x-ratelimit-*` headers for the key's rpm and tpm limits."""
    headers: Headers = []
    if key.rpm:
        headers += [
            (b"x-ratelimit-limit-requests", b"%d" % key.rpm),
            (b"x-ratelimit-remaining-requests", b"%d" % max(0, key.rpm - counters.requests)),
            (b"x-ratelimit-reset-requests", _reset_value(counters.requests_reset)),
        ]
    if key.tpm:
        headers += [
            (b"x-ratelimit-limit-tokens", b"%d" % key.tpm),
            (b"x-ratelimit-remaining-tokens", b"%d" % max(0, key.tpm - counters.tokens)),
            (b"x-ratelimit-reset-tokens", _reset_value(counters.tokens_reset)),
        ]
    return headers


def refusal(reason: str, key: ApiKeyEntry, counters: Counters) -> errors.GatewayError:
    """The error for a refused admission (`reason`: quota, concurrency, rpm or tpm)."""
    metrics.rate_limited("budget" if reason == "quota" else reason)
    exc: errors.GatewayError
    if reason == "quota":
        exc = errors.InsufficientQuota(
            f"The key's budget of ${key.budget:g} per {key.budget_period} is spent.", retry_after=None
        )
    elif reason == "concurrency":
        exc = errors.KeyRateLimited(
            f"The key already has {key.max_concurrent} requests in flight, as many as it may.", retry_after=1
        )
    elif reason == "rpm":
        exc = errors.KeyRateLimited(
            f"The key's limit of {key.rpm} requests per minute is reached.", retry_after=counters.requests_reset
        )
    else:
        exc = errors.KeyRateLimited(
            f"The key's limit of {key.tpm} tokens per minute is reached.", retry_after=counters.tokens_reset
        )
    return exc


def tokens_refused(used: int, estimate: int, limit: int) -> bool:
    """Whether `estimate` more tokens would pass `limit`; a lone request in a fresh window always goes."""
    return used >= limit or (used > 0 and used + estimate > limit)


_limiter: tuple[str, str, object, str, KeyLimiter] | None = None  # the settings it was made for, and it


def key_limiter() -> KeyLimiter:
    """This process's limiter: Redis when `REDIS_URL` is set (or LIMITS_STORE says so), else the file.
    Called twice per limited request, so the settings it was made for are compared by identity."""
    global _limiter
    current = _limiter
    if (
        current is not None
        and current[0] is gateway_settings.LIMITS_STORE
        and current[1] is gateway_settings.LIMITS_FILE
        and current[2] is settings.DATA_DIR
        and current[3] is settings.REDIS_URL
    ):
        return current[4]
    store, path = gateway_settings.LIMITS_STORE, gateway_settings.LIMITS_FILE
    data_dir, redis_url = settings.DATA_DIR, settings.REDIS_URL
    limiter: KeyLimiter
    if (store or ("redis" if redis_url else "file")) == "redis":
        from completions.limits.file_store import FileKeyLimiter
        from completions.limits.redis_store import RedisKeyLimiter
        from completions.redis_link import redis_link

        fallback = FileKeyLimiter(str(data_dir / "key-limits-fallback.bin"))
        limiter = RedisKeyLimiter(redis_link(redis_url or "redis://127.0.0.1:6379/0"), fallback)
    else:
        from completions.limits.file_store import FileKeyLimiter

        limiter = FileKeyLimiter(path or str(data_dir / "key-limits.bin"))
    _limiter = (store, path, data_dir, redis_url, limiter)
    return limiter


def key_spend(api_key) -> float:
    """An ApiKey row's spend in its current budget period, USD: from the limit store when the key has a
    budget (what enforcement reads), else summed from its usage rows (the CLI and the admin only)."""
    from catalogue.selectors import api_key_entry, api_key_spend_recorded

    entry = api_key_entry(api_key, {})
    if entry.budget is not None:
        return key_limiter().spend(entry)
    return api_key_spend_recorded(key_id=api_key.id, period=api_key.budget_period)
