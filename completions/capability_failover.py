"""Failover for the non-chat capabilities (images, transcription, speech): one generic attempt loop.

`run_with_failover(plan, call, attempts)` calls `call(adapter, target)` for each route of the plan
until one returns. The client's own mistakes (a 400 from the upstream, a bad field) end the loop at
once; anything else, a provider that cannot do what was asked included, moves on to the next route.
Targets carry the provider's uploaded cookies (`completions.cookies.cookies_for`).

Meant to move into `completions/failover.py` next to `complete` and `open_stream`.
"""

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from catalogue.snapshot import Route
from completions import errors
from completions.adapters import Adapter, UpstreamTarget, adapter_for
from completions.cookies import cookies_for
from completions.failover import Attempts, upstream_target
from completions.routing import RoutePlan

T = TypeVar("T")


def target_for(route: Route) -> UpstreamTarget:
    """The upstream target of a route, with the cookies uploaded for its provider's host."""
    target = upstream_target(route)
    cookies = cookies_for(route.provider)
    return dataclasses.replace(target, cookies=cookies) if cookies and not target.cookies else target


def _ends_failover(exc: errors.GatewayError) -> bool:
    return isinstance(exc, errors.InvalidRequest) and not isinstance(exc, errors.UnsupportedCapability)


async def run_with_failover(
    plan: RoutePlan, call: Callable[[Adapter, UpstreamTarget], Awaitable[T]], attempts: Attempts
) -> tuple[T, Route]:
    """The first route's result that succeeds, and that route; one clear error when all fail."""
    for route in plan.routes:
        started = time.monotonic()
        try:
            result = await call(adapter_for(route.provider.adapter), target_for(route))
        except errors.GatewayError as exc:
            attempts.failed(route, exc, started)
            if _ends_failover(exc):
                raise
            continue
        attempts.succeeded(route, started)
        return result, route
    raise attempts.all_failed_error()
