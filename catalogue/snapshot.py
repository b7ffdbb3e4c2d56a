"""An immutable in-memory copy of the catalogue, read by the request path instead of the database.

`snapshot_build()` reads the database once; `catalogue.selectors` caches the result per process and
rebuilds it when `catalogue.cache` says the catalogue changed.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from catalogue import hooks
from catalogue.models import ApiKey, Model, Provider, ProviderModel


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: int
    name: str
    adapter: str
    base_url: str
    api_key: str
    status: str
    needs_auth: bool
    priority: int
    timeout: float
    url: str
    description: str
    supports_stream: bool
    status_reason: str = ""
    # Health (completions/routing/health.py): who set the status, the cool-down end and the row's times, as
    # epoch seconds; `created_at` tells a re-created row with a reused id from the old one.
    status_set_by: str = "operator"
    cooldown_until: float | None = None
    updated_at: float = 0.0
    created_at: datetime | None = None
    # Uploaded cookies whose domain matches base_url (completions.cookies.jar); send with cookies_for().
    cookies: tuple = field(default=(), repr=False)

    @property
    def health_key(self) -> tuple[int, datetime | None]:
        """Identifies this provider row in live health state and in health writes."""
        return (self.id, self.created_at)

    @property
    def has_credential(self) -> bool:
        return bool(self.api_key)

    @property
    def missing_credential(self) -> bool:
        return self.needs_auth and not self.api_key


@dataclass(frozen=True, slots=True)
class Route:
    """One provider serving one public model."""

    provider: ProviderEntry
    model: str
    upstream_name: str
    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: str
    owned_by: str
    aliases: tuple[str, ...]
    created: int
    routes: tuple[Route, ...]

    def has_capability(self, capability: str) -> bool:
        return any(capability in route.capabilities for route in self.routes)


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    id: int
    name: str
    prefix: str


@dataclass(frozen=True)
class CatalogueSnapshot:
    stamp: object
    providers: Mapping[str, ProviderEntry]
    models: Mapping[str, ModelEntry]
    api_keys: Mapping[str, ApiKeyEntry]
    has_api_keys: bool
    _providers_ci: Mapping[str, ProviderEntry] = field(repr=False)
    _models_ci: Mapping[str, ModelEntry] = field(repr=False)
    _routes_by_provider: Mapping[str, tuple[Route, ...]] = field(repr=False)

    def provider(self, name: str) -> ProviderEntry | None:
        """A provider by name, case-insensitively."""
        return self._providers_ci.get(name.lower())

    def model(self, name: str) -> ModelEntry | None:
        """A model by name or alias, case-insensitively."""
        return self._models_ci.get(name.lower())

    def routes_for_provider(self, provider_name: str) -> tuple[Route, ...]:
        return self._routes_by_provider.get(provider_name.lower(), ())


def provider_credential(provider: Provider) -> str:
    if provider.api_key:
        return provider.api_key
    if provider.api_key_env:
        return os.environ.get(provider.api_key_env, "")
    return ""


def snapshot_build(stamp: object) -> CatalogueSnapshot:
    """Read the whole catalogue from the database into a snapshot tagged with `stamp`."""
    cookies_for_url = hooks.cookie_matcher()
    providers = {
        p.id: ProviderEntry(
            id=p.id,
            name=p.name,
            adapter=p.adapter,
            base_url=p.base_url,
            api_key=provider_credential(p),
            status=p.status,
            needs_auth=p.needs_auth,
            priority=p.priority,
            timeout=p.timeout,
            url=p.url,
            description=p.description,
            supports_stream=p.supports_stream,
            status_reason=p.status_reason,
            status_set_by=p.status_set_by,
            cooldown_until=p.cooldown_until.timestamp() if p.cooldown_until else None,
            updated_at=p.updated_at.timestamp(),
            created_at=p.created_at,
            cookies=cookies_for_url(p.base_url),
        )
        for p in Provider.objects.all()
    }
    routes_by_model: dict[int, list[Route]] = {}
    routes_by_provider: dict[str, list[Route]] = {}
    mappings = ProviderModel.objects.select_related("model").order_by("model_id", "id")
    for mapping in mappings:
        provider = providers[mapping.provider_id]
        route = Route(
            provider=provider,
            model=mapping.model.name,
            upstream_name=mapping.upstream_name or mapping.model.name,
            capabilities=frozenset(mapping.capabilities or ()),
        )
        routes_by_model.setdefault(mapping.model_id, []).append(route)
        routes_by_provider.setdefault(provider.name.lower(), []).append(route)

    models: dict[str, ModelEntry] = {}
    models_ci: dict[str, ModelEntry] = {}
    for m in Model.objects.all():
        entry = ModelEntry(
            name=m.name,
            owned_by=m.owned_by,
            aliases=tuple(m.aliases or ()),
            created=int(m.created_at.timestamp()),
            routes=tuple(routes_by_model.get(m.id, ())),
        )
        models[m.name] = entry
    # Names win over aliases when they collide.
    for entry in models.values():
        for alias in entry.aliases:
            models_ci.setdefault(alias.lower(), entry)
    for entry in models.values():
        models_ci[entry.name.lower()] = entry

    keys = list(ApiKey.objects.all())
    api_keys = {k.key_hash: ApiKeyEntry(id=k.id, name=k.name, prefix=k.prefix) for k in keys if k.revoked_at is None}
    by_name = {p.name: p for p in providers.values()}
    return CatalogueSnapshot(
        stamp=stamp,
        providers=MappingProxyType(by_name),
        models=MappingProxyType(models),
        api_keys=MappingProxyType(api_keys),
        has_api_keys=bool(keys),
        _providers_ci=MappingProxyType({name.lower(): p for name, p in by_name.items()}),
        _models_ci=MappingProxyType(models_ci),
        _routes_by_provider=MappingProxyType({k: tuple(v) for k, v in routes_by_provider.items()}),
    )
