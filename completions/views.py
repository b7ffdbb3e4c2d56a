"""Catalogue endpoints (DRF): `/v1/models`, `/v1/providers`, `/api/{provider}/models`.

They read the cached catalogue snapshot; entries follow the G4F REST API (models and providers both
listed under `/v1/models`, providers flagged with `"provider": true`).
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.provider_state import IGNORED, provider_entry_state
from catalogue.selectors import catalogue_snapshot
from catalogue.snapshot import ApiKeyEntry, CatalogueSnapshot, ModelEntry, ProviderEntry, Route
from completions import errors
from completions.openapi.schemas import ERRORS, MODEL, PROVIDER, PROVIDER_DETAIL, PROVIDER_MODEL, error, listing
from g4fsite.conf import gateway_settings


def _ignored() -> frozenset[str]:
    return frozenset(name.lower() for name in gateway_settings.IGNORED_PROVIDERS)


def _listed(provider: ProviderEntry, ignored: frozenset[str]) -> bool:
    return provider.status != IGNORED and provider.name.lower() not in ignored


def _routable(route: Route, ignored: frozenset[str], key: ApiKeyEntry | None = None) -> bool:
    usable = _listed(route.provider, ignored) and not route.provider.missing_credential
    return usable and (key is None or key.may_use(route))


def _key(request: Request) -> ApiKeyEntry | None:
    """The caller's key entry when it restricts models or providers (the lists show only those)."""
    caller = getattr(request, "caller", None)
    key = caller.key if caller is not None else None
    if key is not None and (key.allowed_models is not None or key.allowed_providers is not None):
        return key
    return None


def _key_routes(routes: tuple[Route, ...], key: ApiKeyEntry | None) -> tuple[Route, ...]:
    return routes if key is None else tuple(route for route in routes if key.may_use(route))


def model_entry(model: ModelEntry, routes: list[Route]) -> dict[str, Any]:
    capabilities = set().union(*(route.capabilities for route in routes)) if routes else set()
    return {
        "id": model.name,
        "object": "model",
        "created": model.created,
        "owned_by": model.owned_by or (routes[0].provider.name if routes else "g4f"),
        "chat": "chat" in capabilities,
        "image": "image" in capabilities,
        "vision": "vision" in capabilities,
        "audio": bool({"transcription", "speech"} & capabilities),
        "provider": False,
        "providers": [route.provider.name for route in routes],
        "aliases": list(model.aliases),
    }


def provider_model_entry(provider: ProviderEntry, routes: tuple[Route, ...]) -> dict[str, Any]:
    return {
        "id": provider.name,
        "object": "model",
        "created": 0,
        "owned_by": provider.name,
        "chat": any("chat" in route.capabilities for route in routes),
        "image": any("image" in route.capabilities for route in routes),
        "vision": any("vision" in route.capabilities for route in routes),
        "provider": True,
    }


def _models_with(routes: tuple[Route, ...], *capabilities: str) -> list[str]:
    return [route.model for route in routes if set(capabilities) & route.capabilities]


def provider_summary(provider: ProviderEntry, routes: tuple[Route, ...], ignored: frozenset[str]) -> dict[str, Any]:
    """A provider as the G4F REST API lists it, with its state (`catalogue.provider_state`)."""
    state = provider_entry_state(provider, ignored=provider.name.lower() in ignored, now=time.time())
    return {
        "provider": provider.name,
        "id": provider.name,
        "object": "provider",
        "label": provider.name,
        "models": _models_with(routes, "chat"),
        "image_models": _models_with(routes, "image"),
        "vision_models": _models_with(routes, "vision"),
        "audio_models": _models_with(routes, "transcription", "speech"),
        "url": provider.url or None,
        "working": state.working,
        "status": state.state,
        "status_reason": state.reason,
        "auth": provider.needs_auth,
    }


def _provider_or_404(snapshot: CatalogueSnapshot, name: str, key: ApiKeyEntry | None = None) -> ProviderEntry:
    provider = snapshot.provider(name)
    if provider is None or not _listed(provider, _ignored()) or (key and not key.may_use_provider(provider.name)):
        raise errors.ProviderNotFound(f"Provider '{name}' does not exist.", param="provider")
    return provider


def _model_list(
    snapshot: CatalogueSnapshot, ignored: frozenset[str], key: ApiKeyEntry | None = None
) -> list[dict[str, Any]]:
    """The `/v1/models` entries: models some usable provider serves, then those providers (for a key
    restricted to some models or providers, only what it may use)."""
    data = []
    for model in snapshot.models.values():
        routes = [route for route in model.routes if _routable(route, ignored, key)]
        if routes:
            data.append(model_entry(model, routes))
    for provider in snapshot.providers.values():
        if _provider_usable(provider, ignored, key):
            routes = _key_routes(snapshot.routes_for_provider(provider.name), key)
            data.append(provider_model_entry(provider, routes))
    return data


def anthropic_model_list(
    snapshot: CatalogueSnapshot, ignored: frozenset[str], query: Any, key: ApiKeyEntry | None = None
) -> dict[str, Any]:
    """Anthropic's model list (for Claude Code and the anthropic SDKs): chat models some usable
    provider serves (only what a restricted key may use), paged by `limit` (1..1000, default 20) and
    `after_id`."""
    names = [
        model
        for model in snapshot.models.values()
        if any(_routable(route, ignored, key) and "chat" in route.capabilities for route in model.routes)
    ]
    try:
        limit = min(max(int(query.get("limit") or 20), 1), 1000)
    except ValueError:
        raise errors.ValidationFailed("limit: an integer from 1 to 1000 is required.", param="limit") from None
    start = next((i + 1 for i, model in enumerate(names) if model.name == query.get("after_id")), 0)
    page = names[start : start + limit]
    data = [
        {
            "type": "model",
            "id": model.name,
            "display_name": model.name,
            "created_at": datetime.fromtimestamp(model.created or 0, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for model in page
    ]
    return {
        "data": data,
        "has_more": start + limit < len(names),
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def _provider_usable(provider: ProviderEntry, ignored: frozenset[str], key: ApiKeyEntry | None) -> bool:
    """Whether `provider` is listed as a model: usable, and allowed to a restricted key (a key limited
    to some models gets providers-as-models only when it names its providers too)."""
    if not _listed(provider, ignored) or provider.missing_credential:
        return False
    return key is None or (key.allowed_providers is not None and key.may_use_provider(provider.name))


class ModelListView(APIView):
    """`GET /v1/models`: every model some usable provider serves, then the providers themselves; with
    an `anthropic-version` header, Anthropic's list shape instead."""

    @extend_schema(operation_id="models_list", responses={200: listing(MODEL), **ERRORS}, tags=["models"])
    def get(self, request: Request) -> Response:
        if request.headers.get("anthropic-version"):
            return Response(anthropic_model_list(catalogue_snapshot(), _ignored(), request.query_params, _key(request)))
        return Response({"object": "list", "data": _model_list(catalogue_snapshot(), _ignored(), _key(request))})


class ModelDetailView(APIView):
    """`GET /v1/models/{model}` (by name or alias, or a provider's name): the entry `/v1/models` lists
    for it; 404 `model_not_found` for anything that list leaves out."""

    @extend_schema(
        responses={200: MODEL, 404: error("`model_not_found`: not in `/v1/models`."), **ERRORS}, tags=["models"]
    )
    def get(self, request: Request, model_name: str) -> Response:
        snapshot, ignored, key = catalogue_snapshot(), _ignored(), _key(request)
        model = snapshot.model(model_name)
        if model is not None:
            routes = [route for route in model.routes if _routable(route, ignored, key)]
            if routes:
                return Response(model_entry(model, routes))
        else:
            provider = snapshot.provider(model_name)
            if provider is not None and _provider_usable(provider, ignored, key):
                routes = _key_routes(snapshot.routes_for_provider(provider.name), key)
                return Response(provider_model_entry(provider, routes))
        raise errors.ModelNotFound(f"The model '{model_name}' does not exist.", param="model")


class ProviderListView(APIView):
    """`GET /v1/providers`: `{"object": "list", "data": [...]}`, every provider not ignored."""

    @extend_schema(operation_id="providers_list", responses={200: listing(PROVIDER), **ERRORS}, tags=["providers"])
    def get(self, request: Request) -> Response:
        snapshot, ignored, key = catalogue_snapshot(), _ignored(), _key(request)
        data = [
            provider_summary(provider, _key_routes(snapshot.routes_for_provider(provider.name), key), ignored)
            for provider in snapshot.providers.values()
            if _listed(provider, ignored) and (key is None or key.may_use_provider(provider.name))
        ]
        return Response({"object": "list", "data": data})


class ProviderDetailView(APIView):
    """`GET /v1/providers/{provider}`: the list's entry plus `stream`, `description` and `params`."""

    @extend_schema(
        operation_id="providers_retrieve",
        responses={200: PROVIDER_DETAIL, 404: error("`provider_not_found`."), **ERRORS},
        tags=["providers"],
    )
    def get(self, request: Request, provider_name: str) -> Response:
        snapshot, key = catalogue_snapshot(), _key(request)
        provider = _provider_or_404(snapshot, provider_name, key)
        routes = _key_routes(snapshot.routes_for_provider(provider.name), key)
        detail = provider_summary(provider, routes, _ignored())
        detail["stream"] = provider.supports_stream
        detail["description"] = provider.description
        detail["params"] = ["model", "messages", "stream", "max_tokens", "temperature", "top_p", "stop", "tools"]
        return Response(detail)


class ProviderModelListView(APIView):
    """`GET /api/{provider}/models`."""

    @extend_schema(
        responses={200: listing(PROVIDER_MODEL), 404: error("`provider_not_found`."), **ERRORS}, tags=["providers"]
    )
    def get(self, request: Request, provider_name: str) -> Response:
        snapshot, key = catalogue_snapshot(), _key(request)
        provider = _provider_or_404(snapshot, provider_name, key)
        data = [
            {
                "id": route.model,
                "object": "model",
                "created": 0,
                "owned_by": provider.name,
                "image": "image" in route.capabilities,
                "vision": "vision" in route.capabilities,
                "upstream": route.upstream_name,
            }
            for route in _key_routes(snapshot.routes_for_provider(provider.name), key)
        ]
        return Response({"object": "list", "data": data})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404: an OpenAI-style error for every unknown URL."""
    exc = errors.NotFound(f"No such endpoint: {request.method} {request.path}")
    return JsonResponse(errors.error_body(exc), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: never a traceback."""
    return JsonResponse(errors.error_body(errors.GatewayError()), status=500)


def _method_not_allowed(request: HttpRequest) -> JsonResponse:
    exc = errors.MethodNotAllowed(f"Method {request.method} is not allowed here.")
    return JsonResponse(errors.error_body(exc), status=exc.status_code, headers={"Allow": "GET, HEAD"})


def read_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """A plain Django view that answers GET and HEAD; any other method gets the JSON 405 (with
    `Allow`), not Django's HTML CSRF page: such a view changes nothing, so it needs no CSRF check."""
    if iscoroutinefunction(view):

        async def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in ("GET", "HEAD"):
                return _method_not_allowed(request)
            return await view(request, *args, **kwargs)

        markcoroutinefunction(answer)
    else:

        def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in ("GET", "HEAD"):
                return _method_not_allowed(request)
            return view(request, *args, **kwargs)

    return csrf_exempt(wraps(view)(answer))
