"""Catalogue endpoints (DRF): `/v1/models`, `/v1/providers`, `/api/{provider}/models`.

They read the cached catalogue snapshot; entries follow the G4F REST API (models and providers both
listed under `/v1/models`, providers flagged with `"provider": true`).
"""

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.selectors import catalogue_snapshot
from catalogue.snapshot import CatalogueSnapshot, ModelEntry, ProviderEntry, Route
from completions import errors
from completions.routing.plan import IGNORED, unavailable_reason
from g4fsite.conf import gateway_settings


def _ignored() -> frozenset[str]:
    return frozenset(name.lower() for name in gateway_settings.IGNORED_PROVIDERS)


def _listed(provider: ProviderEntry, ignored: frozenset[str]) -> bool:
    return provider.status != IGNORED and provider.name.lower() not in ignored


def _routable(route: Route, ignored: frozenset[str]) -> bool:
    return _listed(route.provider, ignored) and not route.provider.missing_credential


def model_entry(model: ModelEntry, routes: list[Route]) -> dict[str, Any]:
    capabilities = set().union(*(route.capabilities for route in routes)) if routes else set()
    return {
        "id": model.name,
        "object": "model",
        "created": model.created,
        "owned_by": model.owned_by or (routes[0].provider.name if routes else "g4f"),
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
        "image": any("image" in route.capabilities for route in routes),
        "vision": any("vision" in route.capabilities for route in routes),
        "provider": True,
    }


def provider_summary(provider: ProviderEntry, ignored: frozenset[str]) -> dict[str, Any]:
    return {
        "id": provider.name,
        "object": "provider",
        "created": 0,
        "url": provider.url or None,
        "label": provider.name,
        "description": provider.description,
        "working": unavailable_reason(provider, ignored) is None,
        "status": provider.status,
        "auth": provider.needs_auth,
        "stream": provider.supports_stream,
    }


def _provider_or_404(snapshot: CatalogueSnapshot, name: str) -> ProviderEntry:
    provider = snapshot.provider(name)
    if provider is None or not _listed(provider, _ignored()):
        raise errors.ProviderNotFound(f"Provider '{name}' does not exist.", param="provider")
    return provider


class ModelListView(APIView):
    """`GET /v1/models`: every model some usable provider serves, then the providers themselves."""

    def get(self, request: Request) -> Response:
        snapshot, ignored = catalogue_snapshot(), _ignored()
        data = []
        for model in snapshot.models.values():
            routes = [route for route in model.routes if _routable(route, ignored)]
            if routes:
                data.append(model_entry(model, routes))
        for provider in snapshot.providers.values():
            if _listed(provider, ignored) and not provider.missing_credential:
                data.append(provider_model_entry(provider, snapshot.routes_for_provider(provider.name)))
        return Response({"object": "list", "data": data})


class ModelDetailView(APIView):
    """`GET /v1/models/{model}` (by name or alias)."""

    def get(self, request: Request, model_name: str) -> Response:
        snapshot, ignored = catalogue_snapshot(), _ignored()
        model = snapshot.model(model_name)
        if model is None:
            raise errors.ModelNotFound(f"The model '{model_name}' does not exist.", param="model")
        return Response(model_entry(model, [route for route in model.routes if _routable(route, ignored)]))


class ProviderListView(APIView):
    """`GET /v1/providers`."""

    def get(self, request: Request) -> Response:
        snapshot, ignored = catalogue_snapshot(), _ignored()
        return Response([provider_summary(p, ignored) for p in snapshot.providers.values() if _listed(p, ignored)])


class ProviderDetailView(APIView):
    """`GET /v1/providers/{provider}`: the summary plus the models it serves."""

    def get(self, request: Request, provider_name: str) -> Response:
        snapshot = catalogue_snapshot()
        provider = _provider_or_404(snapshot, provider_name)
        routes = snapshot.routes_for_provider(provider.name)
        detail = provider_summary(provider, _ignored())
        detail["models"] = [route.model for route in routes if "chat" in route.capabilities]
        detail["image_models"] = [route.model for route in routes if "image" in route.capabilities]
        detail["vision_models"] = [route.model for route in routes if "vision" in route.capabilities]
        detail["audio_models"] = [route.model for route in routes if {"transcription", "speech"} & route.capabilities]
        detail["params"] = ["model", "messages", "stream", "max_tokens", "temperature", "top_p", "stop", "tools"]
        return Response(detail)


class ProviderModelListView(APIView):
    """`GET /api/{provider}/models`."""

    def get(self, request: Request, provider_name: str) -> Response:
        snapshot = catalogue_snapshot()
        provider = _provider_or_404(snapshot, provider_name)
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
            for route in snapshot.routes_for_provider(provider.name)
        ]
        return Response({"object": "list", "data": data})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404: an OpenAI-style error for every unknown URL."""
    exc = errors.NotFound(f"No such endpoint: {request.method} {request.path}")
    return JsonResponse(errors.error_body(exc), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: never a traceback."""
    return JsonResponse(errors.error_body(errors.GatewayError()), status=500)
