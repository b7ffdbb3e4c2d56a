"""Try a plan's routes in order until one answers, recording each attempt in provider health.

Fails over on a connection error, a timeout before the first byte, an upstream 5xx, a 429 (the
provider cools down for its Retry-After), a 401/403 (the provider's credential is marked broken) and
a malformed answer, and when an adapter cannot send a content part of the request (another protocol
may). Does not fail over when the client's own request was refused (an upstream 400, a refused image
URL: any `InvalidRequest` but `UnsupportedCapability`): that error goes back at once as a 400.

A stream may fail over only until its first chunk arrives; after that the consumer ends the stream
with an error event and tells the `OpenStream`, which records the failure. When every route fails
the client gets one error naming each provider tried and why: 429 (with Retry-After) when all were
rate limited, 400 when no adapter could send the request, else 502.
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from catalogue.snapshot import Route
from completions import errors
from completions.cookies.jar import cookies_for
from completions.routing.health import Admission, HealthBoard, health_board, is_client_fault
from completions.routing.plan import RoutePlan
from completions.upstream.adapters import Adapter, UpstreamTarget, adapter_for
from g4fsite.conf import gateway_settings

T = TypeVar("T")


@dataclass
class Attempts:
    """What was tried for one request, in order: (provider name, error or None, seconds), and the
    routes passed over without an attempt (a half-open provider another request is probing)."""

    tried: list[tuple[str, errors.GatewayError | None, float]] = field(default_factory=list)
    passed_over: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tried)

    def failed(self, route: Route, exc: errors.GatewayError, started: float) -> None:
        self.tried.append((route.provider.name, exc, time.monotonic() - started))

    def succeeded(self, route: Route, started: float) -> None:
        self.tried.append((route.provider.name, None, time.monotonic() - started))

    def pass_over(self, route: Route, reason: str) -> None:
        self.passed_over.append((route.provider.name, reason))

    def all_failed_error(self) -> errors.GatewayError:
        """One error for a request no route answered, listing each provider and why."""
        failures = [(name, exc) for name, exc, _ in self.tried if exc is not None]
        if not failures:
            detail = "; ".join(f"{name}: {reason}" for name, reason in self.passed_over)
            return errors.ProviderNotWorking(f"No provider could take the request: {detail or 'none left'}.")
        if len(failures) == 1 and not self.passed_over:
            name, exc = failures[0]
            return _named(exc, name)
        detail = "; ".join(f"{name}: {exc.message}" for name, exc in failures)
        detail += "".join(f"; {name}: {reason}" for name, reason in self.passed_over)
        message = f"All {len(failures) + len(self.passed_over)} providers failed. {detail}"
        if all(isinstance(exc, errors.RateLimited) for _, exc in failures):
            waits = [exc.retry_after for _, exc in failures if exc.retry_after is not None]
            return errors.RateLimited(message, retry_after=min(waits) if waits else None)
        if all(isinstance(exc, errors.UnsupportedCapability) for _, exc in failures):
            return errors.UnsupportedCapability(message)
        return errors.AllProvidersFailed(message)


def _named(exc: errors.GatewayError, provider: str) -> errors.GatewayError:
    """The same error (class, param, Retry-After) with its message naming the provider that gave it."""
    named = type(exc)(f"Provider '{provider}' failed: {exc.message}", param=exc.param, retry_after=exc.retry_after)
    return named.with_traceback(exc.__traceback__)


def fails_over(exc: errors.GatewayError) -> bool:
    """Whether the next route is tried after this error (everything but the client's own fault)."""
    return not is_client_fault(exc)


def upstream_target(route: Route) -> UpstreamTarget:
    """Where a route's request goes, with the provider's credential and uploaded cookies."""
    provider = route.provider
    return UpstreamTarget(
        provider=provider.name,
        base_url=provider.base_url,
        upstream_model=route.upstream_name,
        api_key=provider.api_key,
        timeout=gateway_settings.TIMEOUT or provider.timeout,
        cookies=cookies_for(provider),
        stream_options=provider.sends_stream_options,
    )


def route_payload(route: Route, payload: dict[str, Any]) -> dict[str, Any]:
    """A chat payload as `route`'s upstream gets it: under the provider's own model name."""
    return {**payload, "model": route.upstream_name}


async def first_success(
    plan: RoutePlan,
    attempts: Attempts,
    attempt: Callable[[Adapter, Route], Awaitable[T]],
    *,
    proxy: str | None = None,
    record_success: bool = True,
    eligible: Callable[[Route], bool] = lambda route: True,
    answers_locally: Callable[[Route], bool] = lambda route: False,
    board: HealthBoard = health_board,
) -> tuple[T, Route, float]:
    """Run `attempt(adapter, route)` on each eligible route in order until one returns; return its
    result, the route and the seconds it took. Every outcome is recorded in `board` (a success only
    when `record_success`: a stream's is recorded when it ends), except on a route where the attempt
    `answers_locally` (never calls the upstream, e.g. count_tokens' estimate): that one says nothing of
    the provider's health, so it is neither recorded nor admitted as a half-open probe."""
    for route in plan.routes:
        if not eligible(route):
            continue
        local = answers_locally(route)
        admission = Admission(None) if local else await board.admit(route.provider)
        if admission is None:
            attempts.pass_over(route, "another request is probing it after its cool-down")
            continue
        started = time.monotonic()
        try:
            result = await attempt(adapter_for(route.provider.adapter, proxy=proxy), route)
        except errors.GatewayError as exc:
            attempts.failed(route, exc, started)
            if not local:
                board.record_failure(route.provider, exc, catalogue_routed=not plan.pinned)
            if not fails_over(exc):
                raise
            continue
        finally:
            await admission.release()
        elapsed = time.monotonic() - started
        attempts.succeeded(route, started)
        if record_success and not local:
            board.record_success(route.provider, elapsed * 1000)
        return result, route, elapsed
    raise attempts.all_failed_error()


@dataclass
class OpenStream:
    """A stream that has produced its first chunk: no failover is possible any more. The consumer
    calls `succeeded()` when it ends cleanly or `failed(exc)` when it breaks off."""

    route: Route
    first_chunk: dict[str, Any]
    rest: AsyncIterator[dict[str, Any]]
    first_chunk_seconds: float = 0.0
    board: HealthBoard = health_board

    def succeeded(self) -> None:
        self.board.record_success(self.route.provider, self.first_chunk_seconds * 1000)

    def failed(self, exc: errors.GatewayError) -> None:
        self.board.record_failure(self.route.provider, exc)


async def open_stream(
    plan: RoutePlan, payload: dict[str, Any], attempts: Attempts, *, proxy: str | None = None
) -> OpenStream:
    """Start streaming from the first route that yields a chunk (`proxy`: an allowed per-request proxy)."""

    async def first_chunk(adapter: Adapter, route: Route) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]]]:
        chunks = adapter.chat_stream(upstream_target(route), route_payload(route, payload))
        try:
            return await anext(chunks), chunks
        except StopAsyncIteration:
            raise errors.UpstreamMalformed("The provider's stream was empty.") from None
        except BaseException:
            await _close(chunks)
            raise

    streaming = [route for route in plan.routes if route.provider.supports_stream]
    if not streaming:
        raise errors.UnsupportedCapability("No provider for this model supports streaming.", param="stream")
    (first, rest), route, seconds = await first_success(
        plan,
        attempts,
        first_chunk,
        proxy=proxy,
        record_success=False,
        eligible=lambda route: route.provider.supports_stream,
    )
    return OpenStream(route=route, first_chunk=first, rest=rest, first_chunk_seconds=seconds)


async def _close(chunks: Any) -> None:
    if chunks is not None and hasattr(chunks, "aclose"):
        try:
            await chunks.aclose()
        except Exception:  # noqa: BLE001 - closing a failed upstream stream must not mask its error
            pass
