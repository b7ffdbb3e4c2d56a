"""Which providers may serve a request, in which order. Pure functions over catalogue data: no
database, no I/O, so every rule here is testable with plain objects."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from catalogue.snapshot import CatalogueSnapshot, ModelEntry, ProviderEntry, Route
from completions import errors

IGNORED = "ignored"
NOT_WORKING = "not_working"


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


def unavailable_reason(provider: ProviderEntry, ignored: Collection[str]) -> str | None:
    """Why routing must skip a provider right now, or None when it may be tried."""
    if provider.status == IGNORED or provider.name.lower() in ignored:
        return "ignored by the operator"
    if provider.missing_credential:
        return "no credential configured"
    if provider.status == NOT_WORKING:
        return "marked not working" + (f" ({provider.status_reason})" if provider.status_reason else "")
    return None


def order_routes(routes: Iterable[Route]) -> list[Route]:
    """Higher operator priority first; ties keep catalogue order."""
    return sorted(routes, key=lambda route: -route.provider.priority)


def plan_for_model(
    model: ModelEntry, *, needed: frozenset[str], ignored: Collection[str]
) -> RoutePlan:
    """The routes that may serve `model`; raises a clear error when none may."""
    capable = [route for route in model.routes if needed <= route.capabilities]
    if not capable:
        missing = sorted(needed - set().union(*(route.capabilities for route in model.routes))) if model.routes else []
        detail = f" (needs {', '.join(missing)})" if missing else ""
        raise errors.UnsupportedCapability(
            f"No provider of model '{model.name}' supports this request{detail}.", param="model"
        )
    usable, skipped = [], []
    for route in capable:
        reason = unavailable_reason(route.provider, ignored)
        if reason is None:
            usable.append(route)
        else:
            skipped.append(f"{route.provider.name}: {reason}")
    if not usable:
        raise errors.ProviderNotWorking(
            f"No provider is available for model '{model.name}': {'; '.join(skipped)}."
        )
    return RoutePlan(model=model.name, routes=tuple(order_routes(usable)))


def plan_for_provider(
    snapshot: CatalogueSnapshot,
    *,
    provider_name: str,
    model_name: str,
    needed: frozenset[str],
    ignored: Collection[str],
) -> RoutePlan:
    """The one route for a request that names its provider. A model the catalogue does not map to
    that provider is passed through under its own name (as G4F does)."""
    provider = snapshot.provider(provider_name)
    if provider is None:
        raise errors.ProviderNotFound(f"Provider '{provider_name}' does not exist.", param="provider")
    reason = unavailable_reason(provider, ignored)
    if reason is not None:
        raise errors.ProviderNotWorking(f"Provider '{provider.name}' is {reason}.", param="provider")
    routes = snapshot.routes_for_provider(provider.name)
    if not model_name:
        if not routes:
            raise errors.ValidationFailed("'model' is required: this provider has no default model.", param="model")
        return RoutePlan(model=routes[0].model, routes=(routes[0],), pinned=True)
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
) -> RoutePlan:
    """Route a request by provider when named, else by model name or alias."""
    if provider_name:
        return plan_for_provider(
            snapshot, provider_name=provider_name, model_name=model_name, needed=needed, ignored=ignored
        )
    if not model_name:
        raise errors.ValidationFailed("'model' is required.", param="model")
    model = snapshot.model(model_name)
    if model is None:
        raise errors.ModelNotFound(f"The model '{model_name}' does not exist.", param="model")
    return plan_for_model(model, needed=needed, ignored=ignored)
