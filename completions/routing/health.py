"""Live provider health: recent outcomes, the circuit breaker and cool-downs.

Where each piece of state lives, and which is the source of truth:

- **The catalogue row** (`Provider.status`, `status_set_by`, `status_reason`, `cooldown_until`,
  `last_error`) is the source of truth for every decision that must hold in every process: a breaker
  that opened, a credential the upstream rejected, a Retry-After cool-down. `HealthWriter` writes
  these transitions through `catalogue.services` on its own thread (never on the request path), and
  the services end with `catalogue_invalidate()`, so every process, on this machine or (with Redis)
  another, sees them on its next request through the catalogue snapshot. A breaker opening is rare,
  so this costs nothing; a 429 cool-down is written at most once per cool-down per process.
- **This process's memory** (`HealthBoard`) holds the live statistics routing orders by (recent
  success rate and latency, failures in a row) and a provisional copy of each transition until its
  row write lands: routing honours a local cool-down only while it is newer than the row
  (`ProviderEntry.updated_at`), so the row wins once written and an operator's later change always
  wins. Keeping the statistics in memory keeps the request path free of I/O.
- **Redis** (with `REDIS_URL`) holds the failure counts that open the breaker, so the threshold
  means the same for one process or twenty; without Redis, or while it is unreachable, each process
  counts alone (with K processes a breaker then opens after at most K x (threshold - 1) + 1
  failures). Counting happens after the failure is answered, never for successes but for a reset
  now and then (`completions.routing.health_shared`).
- **The Django cache** holds the half-open probe token (`cache.aadd` is atomic in Redis and in
  locmem): when a cool-down ends, exactly one request (one per process with the default locmem
  cache, or while Redis is unreachable) is let through to probe the provider; success restores
  `working`, failure reopens it.
- **The admin** reads recent success rate and latency from the row, where each process writes its
  own every `HEALTH_FLUSH_INTERVAL` seconds (the last to write wins).

What counts (`is_provider_fault`): only the provider's own faults. Connection errors, timeouts, 5xx,
malformed answers and streams cut mid-way are failures (the breaker opens after `BREAKER_THRESHOLD`
of them in a row within `BREAKER_WINDOW` seconds; a success resets the count, so a busy provider
failing now and then is ordered lower, not cut off). A 429 cools the provider down for its
Retry-After. A 401/403 counts against the credential only on a catalogue-routed request (the
operator chose the upstream model) and only once `AUTH_FAILURE_THRESHOLD` of them come within
`BREAKER_WINDOW` with no success between: then the provider is marked not working for
`AUTH_FAILURE_COOLDOWN`. Whatever a client can cause by its own choice never counts: an upstream
400/404/413/422 (a passed-through model name, a bad field), a 401/403 on a request that named its
provider, a content part an adapter cannot send, a full request queue (`ProviderBusy`). Any one key
could otherwise take a provider away from every other.

Reasons written to the row (`status_reason`, shown to every client the provider is then skipped
for) name the class of failure (an error code), never the upstream's or a client's words; the
admin's `last_error` keeps the (redacted, `completions.upstream.status.redact`) message.

The server log gets one WARNING line (logger `g4f.health`) for each counted failure, each breaker
opening or closing and each rate-limit cool-down, with the reason; never the provider's credential.
"""

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from catalogue.snapshot import ProviderEntry
from completions import errors
from completions.redis_link import RedisReplyError, RedisUnavailable
from completions.routing.health_shared import AUTH, FAILURES, ProbeToken, SharedFailureCounts, probe_take
from completions.routing.health_writer import HealthWriter
from completions.routing.plan import NOT_WORKING, SET_BY_HEALTH, is_half_open
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.health")

Key = tuple[int, datetime | None]
MAX_OUTCOMES = 100
LATENCY_SAMPLES = 20  # a provider's latency is the mean of its last 20 successes in the window


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """What routing knows of one provider's recent behaviour (plain data, see `completions.routing.plan`)."""

    success_rate: float  # smoothed over HEALTH_WINDOW: (successes + 1) / (outcomes + 1)
    latency_ms: float | None  # mean of the recent successes
    expires_at: float  # epoch seconds after which these statistics say nothing
    cooldown_until: float | None = None  # a cool-down not yet (or never) written to the row
    cooldown_set_at: float = 0.0
    cooldown_reason: str = ""
    rate_limited: bool = False


def is_provider_fault(exc: errors.GatewayError) -> bool:
    """The provider failed on its own (see the module docstring): a provider error (5xx, timeout,
    connection, malformed answer, rejected credential), a 429, or the provider not working; never a
    4xx the client's request caused, nor a queue that was full."""
    return isinstance(exc, (errors.ProviderError, errors.RateLimited, errors.ProviderNotWorking)) and not isinstance(
        exc, errors.ProviderBusy
    )


def is_client_fault(exc: errors.GatewayError) -> bool:
    """The client's own request was refused (a 400): no failover, and nothing said about health.
    An adapter that cannot send a content part (`UnsupportedCapability`) is not the client's fault:
    another provider may."""
    return isinstance(exc, errors.InvalidRequest) and not isinstance(exc, errors.UnsupportedCapability)


def _loggable(text: str, provider: ProviderEntry) -> str:
    """`text` for the server log: one line, at most 300 characters, the provider's credential masked
    (an upstream's error message may quote the key it was sent)."""
    if provider.api_key and len(provider.api_key) >= 6:
        text = text.replace(provider.api_key, "[credential]")
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def _stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


class _Live:
    """Mutable statistics of one provider row in this process (guarded by the board's lock).

    `outcomes` holds the recent ones, oldest first, with a running count of successes and the
    latest success latencies, so publishing after each request costs the same whatever the window."""

    __slots__ = ("outcomes", "successes", "latencies", "failures", "auth_failures", "cooldown", "last_error", "dirty")

    def __init__(self) -> None:
        self.outcomes: deque[tuple[float, bool, float | None]] = deque()
        self.successes = 0
        self.latencies: deque[tuple[float, float]] = deque(maxlen=LATENCY_SAMPLES)  # (time, ms) of successes
        self.failures: list[float] = []  # times of the failures in a row
        self.auth_failures: list[float] = []  # times of the rejected credentials in a row
        self.cooldown: tuple[float, float, str, bool] | None = None  # until, set at, reason, rate limited
        self.last_error: str | None = None
        self.dirty = False

    def add(self, now: float, ok: bool, latency_ms: float | None = None) -> None:
        if len(self.outcomes) >= MAX_OUTCOMES:
            self._drop_oldest()
        self.outcomes.append((now, ok, latency_ms))
        if ok:
            self.successes += 1
            if latency_ms is not None:
                self.latencies.append((now, latency_ms))

    def expire(self, now: float) -> None:
        """Forget the outcomes older than HEALTH_WINDOW."""
        cutoff = now - gateway_settings.HEALTH_WINDOW
        while self.outcomes and self.outcomes[0][0] < cutoff:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        if self.outcomes.popleft()[1]:
            self.successes -= 1

    def recent(self, now: float) -> list[tuple[float, bool, float | None]]:
        cutoff = now - gateway_settings.HEALTH_WINDOW
        return [outcome for outcome in self.outcomes if outcome[0] >= cutoff]


class HealthBoard:
    """This process's live health of every provider, and the transitions it asks the writer for."""

    def __init__(self, clock: Callable[[], float] = time.time, shared: SharedFailureCounts | None = None) -> None:
        self.clock = clock
        self.shared = shared or SharedFailureCounts()
        self.writer = HealthWriter(self)
        self._lock = threading.Lock()
        self._live: dict[Key, _Live] = {}
        self._view: dict[Key, ProviderHealth] = {}

    def view(self) -> Mapping[Key, ProviderHealth]:
        """Read-only statistics by `ProviderEntry.health_key`, for `completions.routing.plan`."""
        return MappingProxyType(self._view)

    def reset(self) -> None:
        with self._lock:
            self._live.clear()
            self._view.clear()

    # --- outcomes -----------------------------------------------------------------------------

    def record_success(self, provider: ProviderEntry, latency_ms: float) -> None:
        now = self.clock()
        key = provider.health_key
        with self._lock:
            live = self._live.get(key) or self._live.setdefault(key, _Live())
            live.add(now, True, latency_ms)
            counted_here = bool(live.failures or live.auth_failures)
            live.failures.clear()
            live.auth_failures.clear()
            live.dirty = True
            closed = provider.status == NOT_WORKING and provider.status_set_by == SET_BY_HEALTH
            if closed:
                live.cooldown = None  # the probe succeeded
                self.writer.submit("provider_breaker_close", key=key)
            self._publish(key, live, now)
        self.shared.success(key, counted_here=counted_here)
        if closed:
            logger.warning(
                "Provider %s: circuit breaker closed: the probe after the cool-down succeeded", provider.name
            )
        self.writer.start()

    def record_failure(
        self, provider: ProviderEntry, exc: errors.GatewayError, *, catalogue_routed: bool = True
    ) -> None:
        """Count a failed attempt when it is the provider's fault; `catalogue_routed` is False for a
        request that named its provider (its 401/403 may come from the client's choice of model)."""
        if not is_provider_fault(exc):
            return
        auth_failed = isinstance(exc, errors.UpstreamAuthFailed)
        if auth_failed and not catalogue_routed:
            return
        now = self.clock()
        key = provider.health_key
        message = f"{type(exc).__name__}: {exc.message}"
        window = gateway_settings.BREAKER_WINDOW
        logger.warning("Provider %s failed: %s", provider.name, _loggable(message, provider))
        kind = ""  # the count this failure adds to, when it is one that may open the breaker
        with self._lock:
            live = self._live.get(key) or self._live.setdefault(key, _Live())
            live.add(now, False)
            live.last_error = message
            live.dirty = True
            if isinstance(exc, errors.RateLimited):
                self._rate_limited(provider, live, exc, now, message)
            elif auth_failed:
                live.auth_failures = [t for t in live.auth_failures if t > now - window] + [now]
                kind = AUTH
            elif is_half_open(provider, now):
                reason = f"Circuit breaker: the probe after the cool-down failed ({exc.code})."
                self._open(provider, live, now, gateway_settings.BREAKER_COOLDOWN, reason, message)
            else:
                live.failures = [t for t in live.failures if t > now - window] + [now]
                kind = FAILURES
            if kind and not self.shared.usable():
                self._count_here(provider, live, kind, exc.code, message, now)
                kind = ""
            self._publish(key, live, now)
        if kind:
            self.shared.spawn(asyncio.get_running_loop(), self._count_shared(provider, kind, exc.code, message, now))
        self.writer.start()

    async def _count_shared(self, provider: ProviderEntry, kind: str, code: str, message: str, now: float) -> None:
        """Add a failure to the shared count in Redis; open the breaker if it reached the threshold
        there, or, if Redis cannot count it, if this process's own count did."""
        threshold = gateway_settings.AUTH_FAILURE_THRESHOLD if kind == AUTH else gateway_settings.BREAKER_THRESHOLD
        try:
            failures, reached = await self.shared.add(
                provider.health_key, kind, now, threshold, gateway_settings.BREAKER_WINDOW
            )
        except (RedisUnavailable, RedisReplyError):
            failures, reached = 0, None
        with self._lock:
            live = self._live.get(provider.health_key) or self._live.setdefault(provider.health_key, _Live())
            if reached is None:
                self._count_here(provider, live, kind, code, message, now)
            elif reached:
                self._trip(provider, live, kind, failures, code, message, now)
            self._publish(provider.health_key, live, self.clock())
        self.writer.start()

    def _count_here(self, provider: ProviderEntry, live: _Live, kind: str, code: str, message: str, now: float) -> None:
        """Open the breaker if this process's own count of `kind` reached its threshold."""
        failures = len(live.auth_failures if kind == AUTH else live.failures)
        threshold = gateway_settings.AUTH_FAILURE_THRESHOLD if kind == AUTH else gateway_settings.BREAKER_THRESHOLD
        if failures >= threshold:
            self._trip(provider, live, kind, failures, code, message, now)

    def _trip(
        self, provider: ProviderEntry, live: _Live, kind: str, failures: int, code: str, message: str, now: float
    ) -> None:
        window = gateway_settings.BREAKER_WINDOW
        if kind == AUTH:
            live.auth_failures.clear()
            reason = f"The upstream rejected the credential {failures} times within {window:g}s ({code})."
            self._open(provider, live, now, gateway_settings.AUTH_FAILURE_COOLDOWN, reason, message)
        else:
            reason = f"Circuit breaker: {failures} failures in a row within {window:g}s (last: {code})."
            self._open(provider, live, now, gateway_settings.BREAKER_COOLDOWN, reason, message)

    def _open(
        self, provider: ProviderEntry, live: _Live, now: float, seconds: float, reason: str, message: str
    ) -> None:
        until = now + seconds
        live.failures.clear()
        live.cooldown = (until, now, reason, False)
        key = provider.health_key
        self.writer.submit("provider_breaker_open", key=key, reason=reason, error=message, until=_stamp(until))
        logger.warning(
            "Provider %s: circuit breaker open for %gs: %s", provider.name, seconds, _loggable(reason, provider)
        )

    def _rate_limited(
        self, provider: ProviderEntry, live: _Live, exc: errors.RateLimited, now: float, message: str
    ) -> None:
        wait = exc.retry_after if exc.retry_after is not None else gateway_settings.RATE_LIMIT_COOLDOWN
        wait = min(wait, gateway_settings.MAX_RATE_LIMIT_COOLDOWN)
        if wait <= 0:
            return
        live.cooldown = (now + wait, now, "Retry-After", True)
        self.writer.submit("provider_rate_limited", key=provider.health_key, until=_stamp(now + wait), error=message)
        logger.warning("Provider %s: rate limited by the upstream, cooling down for %gs", provider.name, wait)

    def _publish(self, key: Key, live: _Live, now: float) -> None:
        live.expire(now)
        cutoff = live.outcomes[0][0] if live.outcomes else now  # the latencies of recent outcomes only
        latencies = [latency for at, latency in live.latencies if at >= cutoff]
        until, set_at, reason, rate_limited = live.cooldown or (None, 0.0, "", False)
        self._view[key] = ProviderHealth(
            success_rate=(live.successes + 1) / (len(live.outcomes) + 1),
            latency_ms=sum(latencies) / len(latencies) if latencies else None,
            expires_at=(live.outcomes[-1][0] if live.outcomes else now) + gateway_settings.HEALTH_WINDOW,
            cooldown_until=until,
            cooldown_set_at=set_at,
            cooldown_reason=reason,
            rate_limited=rate_limited,
        )

    def stats_drain(self) -> list[dict[str, Any]]:
        """The statistics changed since the last call, as rows for the admin."""
        now = self.clock()
        rows = []
        with self._lock:
            for key, live in self._live.items():
                if not live.dirty:
                    continue
                live.dirty = False
                recent = live.recent(now)
                view = self._view.get(key)
                rows.append(
                    {
                        "key": key,
                        "success_rate": sum(1 for _, ok, _ in recent if ok) / len(recent) if recent else None,
                        "latency_ms": view.latency_ms if view else None,
                        "last_error": live.last_error,
                    }
                )
        return rows

    # --- half-open probes ---------------------------------------------------------------------

    async def admit(self, provider: ProviderEntry) -> "Admission | None":
        """Let an attempt at `provider` go ahead; None when it is half-open and another request is
        already probing it. Release the admission when the attempt is over."""
        if not is_half_open(provider, self.clock()):
            return Admission(None)
        token = await probe_take(provider)
        return None if token is None else Admission(token)


class Admission:
    """Permission for one attempt; for a half-open provider it holds the probe token."""

    __slots__ = ("token",)

    def __init__(self, token: ProbeToken | None) -> None:
        self.token = token

    async def release(self) -> None:
        if self.token is not None:
            token, self.token = self.token, None
            await token.release()


health_board = HealthBoard()
