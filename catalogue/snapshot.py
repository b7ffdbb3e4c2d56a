"""An immutable in-memory copy of the catalogue, read by the request path instead of the database.

Plain data, no database: `catalogue.selectors.snapshot_build()` reads the database once, and
`catalogue.selectors` caches the result per process and rebuilds it when `catalogue.cache` says the
catalogue changed.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


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
    sends_stream_options: bool = True
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
    # USD per million tokens: the mapping's price, else the model's, else 0 (unknown or free).
    price_input: float = 0.0
    price_output: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What `prompt_tokens` in and `completion_tokens` out cost on this route, in USD."""
        return (prompt_tokens * self.price_input + completion_tokens * self.price_output) / 1_000_000


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
    """A client key and what it may do. Limits are None when not set; `allowed_models` holds lower-case
    canonical model names (aliases resolved) and `allowed_providers` lower-case provider names, None for
    all. `limited` says whether any counter (rate, tokens, concurrency, budget) must be kept."""

    id: int
    name: str
    prefix: str
    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None
    budget: float | None = None
    budget_period: str = "month"
    allowed_models: frozenset[str] | None = None
    allowed_providers: frozenset[str] | None = None
    expires_at: float | None = None  # epoch seconds

    @property
    def limited(self) -> bool:
        return bool(self.rpm or self.tpm or self.max_concurrent or self.budget is not None)

    def may_use_model(self, name: str) -> bool:
        return self.allowed_models is None or name.lower() in self.allowed_models

    def may_use_provider(self, name: str) -> bool:
        return self.allowed_providers is None or name.lower() in self.allowed_providers

    def may_use(self, route: Route) -> bool:
        return self.may_use_model(route.model) and self.may_use_provider(route.provider.name)


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
