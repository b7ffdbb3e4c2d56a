"""Model discovery: ask providers which models they serve and add the missing ones to the catalogue.

`providers_refresh()` is what `manage.py catalogue refresh` and the admin action call. It asks every
selected provider at once through its protocol adapter's `list_models` (OpenAI-compatible `/models`,
which also lists a local Ollama's models; Anthropic `/v1/models`; Gemini `models.list`; Pollinations
`/models`), each bounded by `G4F["DISCOVERY_TIMEOUT"]`, then records each answer with
`catalogue.services.provider_models_sync`. A provider that fails is reported, never raised.

Capabilities default to `chat`; others are inferred only from what the upstream states about a model
(OpenRouter's `architecture` and `supported_parameters`, Pollinations' `vision` / `tools` /
modalities). This runs off the request path, so it opens its own short-lived HTTP client.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.utils.module_loading import import_string

from catalogue import services
from catalogue.models import Provider
from catalogue.selectors import provider_credential
from completions import errors
from completions.upstream.adapters import UpstreamTarget
from completions.upstream.client import build_http_client
from g4fsite.conf import gateway_settings

MAX_MODEL_NAME = 200


@dataclass(frozen=True)
class RefreshOutcome:
    """What refreshing one provider did: a sync result, an error, or why it was not asked."""

    provider: str
    result: services.ModelSyncResult | None = None
    error: str = ""
    skipped: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def summary(self) -> str:
        if self.error:
            return f"{self.provider}: failed: {self.error}"
        if self.skipped:
            return f"{self.provider}: skipped ({self.skipped})"
        return f"{self.provider}: {self.result.summary() if self.result else 'nothing to do'}"


def providers_refresh(*, names: Sequence[str] = ()) -> list[RefreshOutcome]:
    """Refresh the named providers (case-insensitive), or every provider not ignored by the operator.

    Providers that need a credential and have none are skipped. Raises `CatalogueError` for an
    unknown name.
    """
    providers = _selected(names)
    outcomes: dict[str, RefreshOutcome] = {}
    asked: list[Provider] = []
    for provider in providers:
        if provider.needs_auth and not provider_credential(provider):
            outcomes[provider.name] = RefreshOutcome(provider.name, skipped="no credential configured")
        else:
            asked.append(provider)
    answers = async_to_sync(_fetch_all)(asked) if asked else []
    for provider, answer in zip(asked, answers, strict=True):
        if isinstance(answer, errors.GatewayError):
            outcomes[provider.name] = RefreshOutcome(provider.name, error=answer.message)
        else:
            result = services.provider_models_sync(provider_id=provider.id, models=answer)
            outcomes[provider.name] = RefreshOutcome(provider.name, result=result)
    return [outcomes[provider.name] for provider in providers]


def _selected(names: Sequence[str]) -> list[Provider]:
    if not names:
        return list(Provider.objects.exclude(status=Provider.Status.IGNORED).order_by("name"))
    by_name = {provider.name.lower(): provider for provider in Provider.objects.all()}
    unknown = [name for name in names if name.lower() not in by_name]
    if unknown:
        raise services.CatalogueError(f"No provider named {', '.join(repr(name) for name in unknown)}.")
    return list({by_name[name.lower()].id: by_name[name.lower()] for name in names}.values())


async def _fetch_all(providers: list[Provider]) -> list[list[dict[str, Any]] | errors.GatewayError]:
    async with build_http_client() as client:
        return await asyncio.gather(*(_fetch(client, provider) for provider in providers))


async def _fetch(client: Any, provider: Provider) -> list[dict[str, Any]] | errors.GatewayError:
    """The provider's models as `provider_models_sync` takes them, or the error that stopped it."""
    path = gateway_settings.ADAPTERS.get(provider.adapter)
    if path is None:
        return errors.ProviderNotWorking(f"No adapter is registered for the '{provider.adapter}' protocol.")
    limit = gateway_settings.DISCOVERY_TIMEOUT
    target = UpstreamTarget(
        provider=provider.name,
        base_url=provider.base_url,
        upstream_model="",
        api_key=provider_credential(provider),
        timeout=min(provider.timeout, limit),
    )
    try:
        async with asyncio.timeout(limit):
            listed = await import_string(path)(client).list_models(target)
    except TimeoutError:
        return errors.UpstreamTimeout(f"The provider did not list its models within {limit:g} seconds.")
    except errors.GatewayError as exc:
        return exc
    return [
        {"id": str(model["id"]), "owned_by": model.get("owned_by"), "capabilities": discovered_capabilities(model)}
        for model in listed
        if 0 < len(str(model["id"])) <= MAX_MODEL_NAME
    ]


def discovered_capabilities(model: dict[str, Any]) -> list[str]:
    """`chat`, plus what the upstream's own description of the model states (never guessed)."""
    architecture = model.get("architecture") if isinstance(model.get("architecture"), dict) else {}
    inputs = set(model.get("input_modalities") or architecture.get("input_modalities") or ())
    outputs = set(model.get("output_modalities") or architecture.get("output_modalities") or ())
    parameters = set(model.get("supported_parameters") or ())
    capabilities = []
    if not outputs or "text" in outputs:
        capabilities.append("chat")
    if model.get("vision") is True or "image" in inputs:
        capabilities.append("vision")
    if model.get("tools") is True or "tools" in parameters:
        capabilities.append("tools")
    if {"response_format", "structured_outputs"} & parameters:
        capabilities.append("json")
    if "image" in outputs:
        capabilities.append("image")
    return capabilities
