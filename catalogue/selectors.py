"""Reads of the catalogue. The request path reads the cached snapshot, never the database."""

import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from channels.db import database_sync_to_async
from django.db.models import Sum

from catalogue import hooks
from catalogue.cache import (
    catalogue_stamp,
    catalogue_version_due,
    catalogue_version_recheck,
    catalogue_version_refresh,
    catalogue_version_refresh_soon,
)
from catalogue.models import ApiKey, Model, Provider, ProviderModel, UsageRecord, api_key_env_problem
from catalogue.snapshot import ApiKeyEntry, CatalogueSnapshot, ModelEntry, ProviderEntry, Route

logger = logging.getLogger("g4f.catalogue")
_lock = threading.Lock()
_current: CatalogueSnapshot | None = None


def _rebuild(stamp: object) -> CatalogueSnapshot:
    global _current
    with _lock:
        if _current is None or _current.stamp != stamp:
            _current = snapshot_build(stamp)
        return _current


def catalogue_snapshot() -> CatalogueSnapshot:
    """The catalogue as of now; rebuilt from the database only when it changed."""
    if catalogue_version_due():
        catalogue_version_refresh()
    stamp = catalogue_stamp()
    current = _current
    if current is not None and current.stamp == stamp:
        return current
    return _rebuild(stamp)


async def acatalogue_snapshot() -> CatalogueSnapshot:
    """Async twin of `catalogue_snapshot`: no thread is used unless a rebuild is due (the
    once-a-second version check runs in the background, without waiting for it)."""
    if catalogue_version_due():
        catalogue_version_refresh_soon()
    stamp = catalogue_stamp()
    current = _current
    if current is not None and current.stamp == stamp:
        return current
    return await database_sync_to_async(_rebuild)(stamp)


async def acatalogue_snapshot_rechecked() -> CatalogueSnapshot:
    """`acatalogue_snapshot` after reading the shared stamps anew (`catalogue_version_recheck`): for a
    key the cached snapshot does not know."""
    await catalogue_version_recheck()
    return await acatalogue_snapshot()


def provider_credential(provider: Provider) -> str:
    """The stored credential, else the value of `api_key_env`, which is read only when the name is
    allowed (a row written before validation, or by raw SQL, may hold a gateway secret's name)."""
    if provider.api_key:
        return provider.api_key
    if provider.api_key_env:
        problem = api_key_env_problem(provider.api_key_env)
        if problem is not None:
            logger.warning("Provider %s: api_key_env not read: %s", provider.name, problem)
            return ""
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
            sends_stream_options=p.sends_stream_options,
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
        priced = mapping if mapping.price_input is not None or mapping.price_output is not None else mapping.model
        route = Route(
            provider=provider,
            model=mapping.model.name,
            upstream_name=mapping.upstream_name or mapping.model.name,
            capabilities=frozenset(mapping.capabilities or ()),
            price_input=priced.price_input or 0.0,
            price_output=priced.price_output or 0.0,
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

    active = ApiKey.objects.filter(revoked_at__isnull=True)
    api_keys = {k.key_hash: api_key_entry(k, models_ci) for k in active}
    by_name = {p.name: p for p in providers.values()}
    return CatalogueSnapshot(
        stamp=stamp,
        providers=MappingProxyType(by_name),
        models=MappingProxyType(models),
        api_keys=MappingProxyType(api_keys),
        has_api_keys=bool(api_keys),  # revoked keys do not count: revoking the last one turns auth off
        _providers_ci=MappingProxyType({name.lower(): p for name, p in by_name.items()}),
        _models_ci=MappingProxyType(models_ci),
        _routes_by_provider=MappingProxyType({k: tuple(v) for k, v in routes_by_provider.items()}),
    )


def api_key_entry(key: ApiKey, models_ci: Mapping[str, ModelEntry]) -> ApiKeyEntry:
    """The snapshot's entry for `key`; allowed model aliases become the models' names."""

    def model_name(name: str) -> str:
        model = models_ci.get(name.lower())
        return (model.name if model else name).lower()

    return ApiKeyEntry(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        rpm=key.rpm or None,
        tpm=key.tpm or None,
        max_concurrent=key.max_concurrent or None,
        budget=float(key.budget) if key.budget is not None else None,
        budget_period=key.budget_period,
        allowed_models=frozenset(map(model_name, key.allowed_models)) if key.allowed_models else None,
        allowed_providers=frozenset(n.lower() for n in key.allowed_providers) if key.allowed_providers else None,
        expires_at=key.expires_at.timestamp() if key.expires_at else None,
    )


def api_key_spend_recorded(*, key_id: int, period: str) -> float:
    """A key's cost summed over its usage rows since the start of the current `period` (UTC)."""
    now = datetime.now(UTC)
    since = {
        "day": now.replace(hour=0, minute=0, second=0, microsecond=0),
        "month": now.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
    }.get(period)
    rows = UsageRecord.objects.filter(api_key_id=key_id)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return rows.aggregate(total=Sum("cost"))["total"] or 0.0


def api_auth_enabled(*, master_key: str) -> bool:
    """Auth is on exactly when a master key is set or at least one key is active (not revoked)."""
    return bool(master_key) or ApiKey.objects.filter(revoked_at__isnull=True).exists()
