"""Which providers may serve a request, in which order. Pure functions over catalogue data and
plain health statistics: no database, no I/O, no clock (`now` is passed in), randomness from an
injectable `random.Random`, so every rule here is testable with plain objects.

Order: operator priority first (higher first); within a priority, live health: providers whose
cool-down just ended (half-open: one probe request) come first, then by recent success rate in bands
of 10% (`health_band`); within a band, equal candidates share the load by weighted random, each
weighted by the inverse of its recent latency (a provider twice as fast gets twice the first tries).

Skipped: `ignored` providers (the operator's word, and `IGNORED_PROVIDERS` from configuration),
providers needing a credential that has none, providers an operator marked not working, and providers
in a cool-down (circuit breaker open, or the upstream's Retry-After), whether the cool-down is in the
catalogue row or, not yet written there, in this process's health statistics.
"""

import math
import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from catalogue import provider_state
from catalogue.provider_state import provider_entry_state
from catalogue.snapshot import CatalogueSnapshot, ModelEntry, ProviderEntry, Route
from completions import errors

IGNORED = provider_state.IGNORED
NOT_WORKING = provider_state.NOT_WORKING
WORKING = provider_state.WORKING
SET_BY_HEALTH = provider_state.SET_BY_HEALTH
HEALTH_BANDS = 10
_random = random.Random()


class HealthStats(Protocol):
    """Live statistics of one provider (completions.routing.health.ProviderHealth), as routing reads them."""

    success_rate: float
    latency_ms: float | None
    expires_at: float
    cooldown_until: float | None
    cooldown_set_at: float
    cooldown_reason: str
    rate_limited: bool


HealthView = Mapping[Any, HealthStats]


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a provider is skipped; `retry_after` when it is only cooling down."""

    reason: str
    retry_after: float | None = None
    rate_limited: bool = False


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """The model the client gets back and the routes to try, best first."""

    model: str
    routes: tuple[Route, ...]
    pinned: bool = False  # the client named the provider


def required_capabilities(payload: dict[str, Any]) -> frozenset[str]:
    """What a chat request needs of a provider-model: chat, plus vision / tools / json when used."""
    needed = {"chat"}
    if payload.get("tools"):
        needed.add("tools")
    response_format = payload.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        needed.add("json")
    for message in payload.get("messages", ()):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") == "image_url" for part in content
        ):
            needed.add("vision")
            break
    return frozenset(needed)


def is_half_open(provider: ProviderEntry, now: float | None) -> bool:
    """Health marked the provider not working and its cool-down has ended: one probe may go through."""
    return (
        now is not None
        and provider.status == NOT_WORKING
        and provider.status_set_by == SET_BY_HEALTH
        and (provider.cooldown_until is None or provider.cooldown_until <= now)
    )


def skip_reason(
    provider: ProviderEntry, ignored: Collection[str], *, health: HealthView | None = None, now: float | None = None
) -> Skip | None:
    """Why routing must skip a provider right now, or None when it may be tried: its
    `catalogue.provider_state`, then this process's health statistics not yet written to the row.
    Without `now`, cool-downs are not judged and a provider health marked not working stays skipped."""
    state = provider_entry_state(provider, ignored=provider.name.lower() in ignored, now=now)
    reason = f" ({state.reason})" if state.reason else ""
    if state.state == provider_state.IGNORED:
        return Skip("ignored by the operator")
    if state.state == provider_state.NEEDS_CREDENTIAL:
        return Skip("no credential configured")
    if state.state == provider_state.NOT_WORKING:
        return Skip("marked not working" + reason)
    if state.state == provider_state.COOLING_DOWN:
        wait = state.until - now
        if state.rate_limited:
            return Skip(f"rate limited for another {math.ceil(wait)}s", retry_after=wait, rate_limited=True)
        return Skip(f"not working{reason}, retried in {math.ceil(wait)}s", retry_after=wait)
    if now is None:
        return None
    stats = health.get(provider.health_key) if health is not None else None
    if (
        stats is not None
        and stats.cooldown_until is not None
        and stats.cooldown_until > now
        and stats.cooldown_set_at > provider.updated_at  # the row, once written, wins
    ):
        wait = stats.cooldown_until - now
        detail = "rate limited" if stats.rate_limited else "not working"
        suffix = f" ({stats.cooldown_reason})" if stats.cooldown_reason else ""
        return Skip(
            f"{detail}{suffix}, retried in {math.ceil(wait)}s", retry_after=wait, rate_limited=stats.rate_limited
        )
    return None


def unavailable_reason(
    provider: ProviderEntry, ignored: Collection[str], *, health: HealthView | None = None, now: float | None = None
) -> str | None:
    """Why routing must skip a provider right now, in words, or None when it may be tried."""
    skip = skip_reason(provider, ignored, health=health, now=now)
    return skip.reason if skip is not None else None


def health_band(provider: ProviderEntry, health: HealthView | None, now: float | None) -> int:
    """-1 for a half-open provider (its probe goes first), else 0 for a recent (smoothed) success
    rate above 90% or no recent statistics, 1 for above 80%, ... 10 for none."""
    if is_half_open(provider, now):
        return -1
    stats = health.get(provider.health_key) if health is not None else None
    if stats is None or now is None or stats.expires_at < now:
        return 0
    return min(HEALTH_BANDS, int(round((1.0 - stats.success_rate) * HEALTH_BANDS, 6)))


def order_routes(
    routes: Iterable[Route],
    *,
    health: HealthView | None = None,
    now: float | None = None,
    rng: random.Random | None = None,
) -> list[Route]:
    """Priority first, then health band, then weighted random by inverse latency (see the module)."""
    rng = rng or _random
    groups: dict[tuple[int, int], list[Route]] = {}
    for route in routes:
        key = (-route.provider.priority, health_band(route.provider, health, now))
        groups.setdefault(key, []).append(route)
    ordered: list[Route] = []
    for key in sorted(groups):
        ordered.extend(_share_load(groups[key], health, rng))
    return ordered


def _share_load(routes: list[Route], health: HealthView | None, rng: random.Random) -> list[Route]:
    """Weighted random order without replacement (Efraimidis-Spirakis): weight 1 / latency; a
    provider with no recent latency gets the group's median."""
    if len(routes) < 2:
        return routes
    latencies = [_latency(route, health) for route in routes]
    known = sorted(value for value in latencies if value)
    fallback = known[len(known) // 2] if known else 1.0
    # Key u ** (1 / weight) with weight = fallback / latency, compared as logarithms (no underflow).
    keyed = [
        (math.log(1.0 - rng.random()) * (latency or fallback) / fallback, index, route)
        for index, (latency, route) in enumerate(zip(latencies, routes, strict=True))
    ]
    return [route for _, _, route in sorted(keyed, key=lambda item: (-item[0], item[1]))]


def _latency(route: Route, health: HealthView | None) -> float | None:
    stats = health.get(route.provider.health_key) if health is not None else None
    if stats is None or not stats.latency_ms:
        return None
    return max(stats.latency_ms, 1.0)


def _no_route_error(subject: str, skipped: list[tuple[str, Skip]]) -> errors.GatewayError:
    detail = "; ".join(f"{name}: {skip.reason}" for name, skip in skipped)
    message = f"No provider is available for {subject}: {detail}."
    if skipped and all(skip.rate_limited for _, skip in skipped):
        return errors.RateLimited(message, retry_after=min(skip.retry_after or 1.0 for _, skip in skipped))
    waits = [skip.retry_after for _, skip in skipped if skip.retry_after is not None]
    return errors.ProviderNotWorking(message, retry_after=min(waits) if len(waits) == len(skipped) else None)


def plan_for_model(
    model: ModelEntry,
    *,
    needed: frozenset[str],
    ignored: Collection[str],
    health: HealthView | None = None,
    now: float | None = None,
    rng: random.Random | None = None,
) -> RoutePlan:
    """The routes that may serve `model`, best first; raises a clear error when none may."""
    capable = [route for route in model.routes if needed <= route.capabilities]
    if not capable:
        missing = sorted(needed - set().union(*(route.capabilities for route in model.routes))) if model.routes else []
        detail = f" (needs {', '.join(missing)})" if missing else ""
        raise errors.UnsupportedCapability(
            f"No provider of model '{model.name}' supports this request{detail}.", param="model"
        )
    usable, skipped = [], []
    for route in capable:
        skip = skip_reason(route.provider, ignored, health=health, now=now)
        if skip is None:
            usable.append(route)
        else:
            skipped.append((route.provider.name, skip))
    if not usable:
        raise _no_route_error(f"model '{model.name}'", skipped)
    return RoutePlan(model=model.name, routes=tuple(order_routes(usable, health=health, now=now, rng=rng)))


def plan_for_provider(
    snapshot: CatalogueSnapshot,
    *,
    provider_name: str,
    model_name: str,
    needed: frozenset[str],
    ignored: Collection[str],
    health: HealthView | None = None,
    now: float | None = None,
) -> RoutePlan:
    """The one route for a request that names its provider. A model the catalogue does not map to
    that provider is passed through under its own name (as G4F does)."""
    provider = snapshot.provider(provider_name)
    if provider is None:
        raise errors.ProviderNotFound(f"Provider '{provider_name}' does not exist.", param="provider")
    skip = skip_reason(provider, ignored, health=health, now=now)
    if skip is not None:
        message = f"Provider '{provider.name}' is {skip.reason}."
        if skip.rate_limited:
            raise errors.RateLimited(message, param="provider", retry_after=skip.retry_after)
        raise errors.ProviderNotWorking(message, param="provider", retry_after=skip.retry_after)
    routes = snapshot.routes_for_provider(provider.name)
    if not model_name:
        default = next((route for route in routes if needed <= route.capabilities), None)
        if default is None and routes:
            missing = ", ".join(sorted(needed))
            raise errors.UnsupportedCapability(
                f"Provider '{provider.name}' has no model that supports {missing}.", param="model"
            )
        if default is None:
            raise errors.ValidationFailed("'model' is required: this provider has no default model.", param="model")
        return RoutePlan(model=default.model, routes=(default,), pinned=True)
    model = snapshot.model(model_name)
    for route in routes:
        if model is not None and route.model == model.name:
            if not needed <= route.capabilities:
                missing = ", ".join(sorted(needed - route.capabilities))
                raise errors.UnsupportedCapability(
                    f"Provider '{provider.name}' does not support {missing} for model '{model.name}'.", param="model"
                )
            return RoutePlan(model=model.name, routes=(route,), pinned=True)
    passthrough = Route(provider=provider, model=model_name, upstream_name=model_name, capabilities=needed)
    return RoutePlan(model=model_name, routes=(passthrough,), pinned=True)


def plan_request(
    snapshot: CatalogueSnapshot,
    *,
    model_name: str,
    provider_name: str,
    needed: frozenset[str],
    ignored: Collection[str],
    health: HealthView | None = None,
    now: float | None = None,
    rng: random.Random | None = None,
) -> RoutePlan:
    """Route a request by provider when named, else by model name or alias, else (a provider's name
    given as the model) by that provider with its default model. `health` (live
    statistics by `ProviderEntry.health_key`) and `now` (epoch seconds) bring in cool-downs and
    health ordering; without them only the catalogue's statuses and priorities count."""
    if provider_name:
        return plan_for_provider(
            snapshot,
            provider_name=provider_name,
            model_name=model_name,
            needed=needed,
            ignored=ignored,
            health=health,
            now=now,
        )
    if not model_name:
        raise errors.ValidationFailed("'model' is required.", param="model")
    model = snapshot.model(model_name)
    if model is None:
        provider = snapshot.provider(model_name)
        if (
            provider is None
            or provider_entry_state(provider, ignored=provider.name.lower() in ignored).state == IGNORED
        ):
            raise errors.ModelNotFound(f"The model '{model_name}' does not exist.", param="model")
        # `/v1/models` lists providers as models (G4F): one names the provider with its default model.
        return plan_for_provider(
            snapshot, provider_name=provider.name, model_name="", needed=needed, ignored=ignored, health=health, now=now
        )
    return plan_for_model(model, needed=needed, ignored=ignored, health=health, now=now, rng=rng)
