"""Try a plan's routes in order until one answers.

A failure that is the client's fault (the upstream said 400) is returned at once; any other failure
moves on to the next route. When every route fails the client gets one error naming each provider
tried and why. A stream may fail over only until its first chunk arrives.
"""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from catalogue.snapshot import Route
from completions import errors
from completions.adapters import UpstreamTarget, adapter_for
from completions.routing import RoutePlan
from g4fsite.conf import gateway_settings

NO_FAILOVER = (errors.UpstreamBadRequest, errors.UnsupportedCapability)


@dataclass
class Attempts:
    """What was tried for one request, in order: (provider name, error or None, seconds)."""

    tried: list[tuple[str, errors.GatewayError | None, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tried)

    def failed(self, route: Route, exc: errors.GatewayError, started: float) -> None:
        self.tried.append((route.provider.name, exc, time.monotonic() - started))

    def succeeded(self, route: Route, started: float) -> None:
        self.tried.append((route.provider.name, None, time.monotonic() - started))

    def all_failed_error(self) -> errors.GatewayError:
        failures = [(name, exc) for name, exc, _ in self.tried if exc is not None]
        if len(failures) == 1:
            return failures[0][1]
        detail = "; ".join(f"{name}: {exc.message}" for name, exc in failures)
        message = f"All {len(failures)} providers failed. {detail}"
        if failures and all(isinstance(exc, errors.RateLimited) for _, exc in failures):
            waits = [exc.retry_after for _, exc in failures if exc.retry_after is not None]
            return errors.RateLimited(message, retry_after=min(waits) if waits else None)
        return errors.ProviderError(message, code="all_providers_failed")


def upstream_target(route: Route) -> UpstreamTarget:
    provider = route.provider
    return UpstreamTarget(
        provider=provider.name,
        base_url=provider.base_url,
        upstream_model=route.upstream_name,
        api_key=provider.api_key,
        timeout=gateway_settings.TIMEOUT or provider.timeout,
    )


def _payload_for(route: Route, payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "model": route.upstream_name}


async def complete(
    plan: RoutePlan, payload: dict[str, Any], attempts: Attempts, *, proxy: str | None = None
) -> tuple[dict[str, Any], Route]:
    """Return the first route's answer that succeeds, and that route (`proxy`: an allowed per-request proxy)."""
    for route in plan.routes:
        started = time.monotonic()
        try:
            adapter = adapter_for(route.provider.adapter, proxy=proxy)
            completion = await adapter.chat(upstream_target(route), _payload_for(route, payload))
        except NO_FAILOVER as exc:
            attempts.failed(route, exc, started)
            raise
        except errors.GatewayError as exc:
            attempts.failed(route, exc, started)
            continue
        attempts.succeeded(route, started)
        return completion, route
    raise attempts.all_failed_error()


@dataclass
class OpenStream:
    """A stream that has produced its first chunk: no failover is possible any more."""

    route: Route
    first_chunk: dict[str, Any]
    rest: AsyncIterator[dict[str, Any]]


async def open_stream(
    plan: RoutePlan, payload: dict[str, Any], attempts: Attempts, *, proxy: str | None = None
) -> OpenStream:
    """Start streaming from the first route that yields a chunk (`proxy`: an allowed per-request proxy)."""
    for route in plan.routes:
        if not route.provider.supports_stream:
            continue
        started = time.monotonic()
        chunks = None
        try:
            adapter = adapter_for(route.provider.adapter, proxy=proxy)
            chunks = adapter.chat_stream(upstream_target(route), _payload_for(route, payload))
            first = await anext(chunks)
        except StopAsyncIteration:
            exc = errors.UpstreamMalformed("The provider's stream was empty.")
            attempts.failed(route, exc, started)
            continue
        except NO_FAILOVER as exc:
            attempts.failed(route, exc, started)
            await _close(chunks)
            raise
        except errors.GatewayError as exc:
            attempts.failed(route, exc, started)
            await _close(chunks)
            continue
        attempts.succeeded(route, started)
        return OpenStream(route=route, first_chunk=first, rest=chunks)
    if not attempts.tried:
        raise errors.UnsupportedCapability("No provider for this model supports streaming.", param="stream")
    raise attempts.all_failed_error()


async def _close(chunks: Any) -> None:
    if chunks is not None and hasattr(chunks, "aclose"):
        try:
            await chunks.aclose()
        except Exception:  # noqa: BLE001 - closing a failed upstream stream must not mask its error
            pass
