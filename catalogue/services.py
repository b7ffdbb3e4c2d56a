"""Writes to the catalogue. Every write that routing must see ends with `catalogue_invalidate()`."""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from catalogue.cache import catalogue_invalidate
from catalogue.key_services import (  # noqa: F401  (keys' writes live there; these names stay importable)
    KEY_PREFIX,
    CatalogueError,
    api_key_create,
    api_key_hash,
    api_key_revoke,
    api_key_update,
    api_keys_touch,
)
from catalogue.models import Model, Provider, ProviderModel
from catalogue.serializers import CatalogueFileSerializer

DEFAULT_CATALOGUE = Path(__file__).resolve().parent / "default_catalogue.json"

# --- providers --------------------------------------------------------------------------------


def providers_set_status(*, provider_ids: Iterable[int], status: str, reason: str = "") -> int:
    """The operator's word on providers; it always wins over automatic health changes."""
    if status not in Provider.Status.values:
        raise CatalogueError(f"Unknown status '{status}'.")
    ids = list(provider_ids)  # read before the transaction: SQLite cannot upgrade a read to a write
    with transaction.atomic():  # when another connection wrote meanwhile ("database is locked")
        count = Provider.objects.filter(id__in=ids).update(
            status=status,
            status_reason=reason,
            status_set_by=Provider.StatusSetBy.OPERATOR,
            cooldown_until=None,
            updated_at=timezone.now(),
        )
        catalogue_invalidate()
    return count


# --- provider health (completions/routing/health.py, completions/routing/provider_check.py) --------------------
#
# Automatic changes never touch an operator's `not_working` or `ignored`: they apply to a working
# provider, or to one that health itself marked not working. Rows are found by id *and* creation
# time, so a late write never lands on a re-created row that reused the id.

ProviderKey = tuple[int, "datetime | None"]
AUTOMATIC = Q(status=Provider.Status.WORKING) | Q(
    status=Provider.Status.NOT_WORKING, status_set_by=Provider.StatusSetBy.HEALTH
)


def _provider_row(key: ProviderKey) -> QuerySet:
    provider_id, created_at = key
    rows = Provider.objects.filter(id=provider_id)
    return rows.filter(created_at=created_at) if created_at is not None else rows


def provider_breaker_open(*, key: ProviderKey, reason: str, error: str, until: datetime) -> bool:
    """Take a provider out of routing until `until` (then one probe request is let through)."""
    with transaction.atomic():
        changed = (
            _provider_row(key)
            .filter(AUTOMATIC)
            .update(
                status=Provider.Status.NOT_WORKING,
                status_set_by=Provider.StatusSetBy.HEALTH,
                status_reason=reason[:500],
                last_error=error,
                cooldown_until=until,
                updated_at=timezone.now(),
            )
        )
        if changed:
            catalogue_invalidate()
    return bool(changed)


def provider_breaker_close(*, key: ProviderKey) -> bool:
    """Put a provider health had marked not working back into routing."""
    with transaction.atomic():
        changed = (
            _provider_row(key)
            .filter(status=Provider.Status.NOT_WORKING, status_set_by=Provider.StatusSetBy.HEALTH)
            .update(status=Provider.Status.WORKING, status_reason="", cooldown_until=None, updated_at=timezone.now())
        )
        if changed:
            catalogue_invalidate()
    return bool(changed)


def provider_rate_limited(*, key: ProviderKey, until: datetime, error: str) -> bool:
    """Keep a working provider out of routing until `until` (the upstream's Retry-After)."""
    with transaction.atomic():
        changed = (
            _provider_row(key)
            .filter(status=Provider.Status.WORKING)
            .filter(Q(cooldown_until__isnull=True) | Q(cooldown_until__lt=until))
            .update(cooldown_until=until, last_error=error, updated_at=timezone.now())
        )
        if changed:
            catalogue_invalidate()
    return bool(changed)


def provider_health_stats_record(
    *, key: ProviderKey, success_rate: float | None, latency_ms: float | None, last_error: str | None
) -> None:
    """Record live statistics for the admin (routing does not read them from here: no invalidation)."""
    values: dict[str, Any] = {"recent_success_rate": success_rate, "recent_latency_ms": latency_ms}
    if last_error is not None:
        values["last_error"] = last_error
    _provider_row(key).update(**values)


def provider_check_record(
    *, key: ProviderKey, ok: bool, latency_ms: float, error: str = "", cooldown: float = 60.0
) -> str:
    """Record a provider check (`checkproviders`); return what happened to its status in words.
    `ok` says the provider answered (a 429 is an answer); `error` is kept as its last error."""
    now = timezone.now()
    with transaction.atomic():
        values: dict[str, Any] = {"last_checked_at": now, "last_latency_ms": latency_ms}
        if error:
            values["last_error"] = error
        _provider_row(key).update(**values)
        if ok:
            changed = provider_breaker_close(key=key)
            return "restored to working" if changed else "unchanged"
        changed = provider_breaker_open(
            key=key,
            reason=f"Provider check failed: {error}",
            error=error,
            until=now + timedelta(seconds=cooldown),
        )
        return "marked not working" if changed else "unchanged (set by an operator)"


# --- import / export --------------------------------------------------------------------------


@dataclass
class ImportResult:
    providers_created: list[str] = field(default_factory=list)
    providers_updated: list[str] = field(default_factory=list)
    models_created: list[str] = field(default_factory=list)
    mappings_created: int = 0
    mappings_updated: int = 0

    def summary(self) -> str:
        return (
            f"providers: {len(self.providers_created)} created, {len(self.providers_updated)} updated; "
            f"models: {len(self.models_created)} created; "
            f"mappings: {self.mappings_created} created, {self.mappings_updated} updated"
        )


PROVIDER_FIELDS = (
    *("adapter", "base_url", "api_key", "api_key_env", "status", "priority"),
    *("url", "description", "needs_auth", "timeout", "supports_stream", "sends_stream_options"),
)


def catalogue_file_read(path: str | Path) -> dict[str, Any]:
    """Parse a catalogue file (JSON, or YAML when PyYAML is installed)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogueError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise CatalogueError("YAML catalogues need PyYAML: pip install pyyaml") from None
        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(f"{path} is not valid JSON: {exc}") from exc


def catalogue_import(*, data: Any, only_new: bool = False) -> ImportResult:
    """Upsert a catalogue by provider name (and model name), all or nothing.

    Fields a provider entry omits keep their stored values (an exported file has no secrets, so
    re-importing it keeps the credentials). Mappings the file does not list are kept. With
    `only_new`, existing rows are left untouched (used to seed the default catalogue).
    """
    serializer = CatalogueFileSerializer(data=data if isinstance(data, dict) else {"providers": "not a list"})
    if not isinstance(data, dict) or not serializer.is_valid():
        errors = serializer.errors if isinstance(data, dict) else {"": ["The file must hold a JSON object."]}
        raise CatalogueError(f"Invalid catalogue: {_flatten(errors)}")
    valid = serializer.validated_data
    result = ImportResult()
    with transaction.atomic():
        models_by_name = {m.name: m for m in Model.objects.all()}
        for entry in valid["models"]:
            _model_upsert(entry, models_by_name, result, only_new)
        for entry in valid["providers"]:
            _provider_upsert(entry, models_by_name, result, only_new)
        catalogue_invalidate()
    return result


def _model_upsert(entry: dict, models_by_name: dict[str, Model], result: ImportResult, only_new: bool) -> Model:
    model = models_by_name.get(entry["name"])
    if "price" in entry:
        entry = {**entry, **price_fields(entry["price"])}
    if model is None:
        model = Model.objects.create(
            name=entry["name"],
            owned_by=entry.get("owned_by", ""),
            aliases=entry.get("aliases", []),
            price_input=entry.get("price_input"),
            price_output=entry.get("price_output"),
        )
        models_by_name[model.name] = model
        result.models_created.append(model.name)
    elif not only_new:
        changed = False
        for name in ("owned_by", "aliases", "price_input", "price_output"):
            if name in entry and getattr(model, name) != entry[name]:
                setattr(model, name, entry[name])
                changed = True
        if changed:
            model.save()
    return model


def _provider_upsert(entry: dict, models_by_name: dict[str, Model], result: ImportResult, only_new: bool) -> None:
    values = {name: entry[name] for name in PROVIDER_FIELDS if name in entry}
    provider = Provider.objects.filter(name__iexact=entry["name"]).first()
    if provider is None:
        if "base_url" not in values:
            raise CatalogueError(f"Invalid catalogue: provider '{entry['name']}' is new and needs a base_url.")
        provider = Provider.objects.create(name=entry["name"], **values)
        result.providers_created.append(provider.name)
    elif only_new:
        return
    else:
        if "status" in values:  # a file's status is the operator's word, as in the admin
            values.update(status_set_by=Provider.StatusSetBy.OPERATOR, cooldown_until=None)
        for name, value in values.items():
            setattr(provider, name, value)
        provider.save()
        result.providers_updated.append(provider.name)
    for mapping in entry.get("models", []):
        model = models_by_name.get(mapping["name"]) or _model_upsert(
            {"name": mapping["name"], "owned_by": provider.name}, models_by_name, result, only_new
        )
        defaults = {"upstream_name": mapping.get("upstream", ""), "capabilities": mapping["capabilities"]}
        if "price" in mapping:
            defaults.update(price_fields(mapping["price"]))
        _, created = ProviderModel.objects.update_or_create(provider=provider, model=model, defaults=defaults)
        if created:
            result.mappings_created += 1
        else:
            result.mappings_updated += 1


def catalogue_export() -> dict[str, Any]:
    """The catalogue in the import format, without secrets. Only an operator's status is exported: an
    imported status is the operator's word, which the breaker's or a provider check's verdict is not."""
    providers = []
    for provider in Provider.objects.prefetch_related("provider_models__model").order_by("name"):
        entry: dict[str, Any] = {"name": provider.name}
        by_operator = provider.status_set_by == Provider.StatusSetBy.OPERATOR
        for name in PROVIDER_FIELDS:
            if name != "api_key" and (name != "status" or by_operator):
                entry[name] = getattr(provider, name)
        entry["models"] = [
            {
                "name": pm.model.name,
                "upstream": pm.upstream_name or pm.model.name,
                "capabilities": list(pm.capabilities),
                **price_entry(pm),
            }
            for pm in provider.provider_models.all()
        ]
        providers.append(entry)
    models = [
        {"name": m.name, "owned_by": m.owned_by, "aliases": list(m.aliases), **price_entry(m)}
        for m in Model.objects.order_by("name")
    ]
    return {"models": models, "providers": providers}


def price_fields(price: dict | None) -> dict[str, float | None]:
    """A file's `price` as the rows' fields (null clears the price)."""
    price = price or {}
    return {"price_input": price.get("input"), "price_output": price.get("output")}


def price_entry(row: Model | ProviderModel) -> dict[str, Any]:
    """`{"price": {...}}` for an export when the row has a price, else nothing."""
    if row.price_input is None and row.price_output is None:
        return {}
    return {"price": {"input": row.price_input, "output": row.price_output}}


def catalogue_seed() -> ImportResult:
    """Add the bundled default catalogue's missing providers and models; never overwrite."""
    return catalogue_import(data=catalogue_file_read(DEFAULT_CATALOGUE), only_new=True)


def _flatten(errors: Any, path: str = "") -> str:
    if isinstance(errors, dict):
        return "; ".join(_flatten(v, f"{path}.{k}" if path else str(k)) for k, v in errors.items())
    if isinstance(errors, list):
        if all(isinstance(e, str) for e in errors):
            return f"{path}: {' '.join(errors)}" if path else " ".join(errors)
        return "; ".join(_flatten(e, f"{path}[{i}]") for i, e in enumerate(errors) if e)
    return f"{path}: {errors}"


# --- model discovery --------------------------------------------------------------------------


@dataclass
class ModelSyncResult:
    models_created: list[str] = field(default_factory=list)
    mappings_created: list[str] = field(default_factory=list)
    known: int = 0

    def summary(self) -> str:
        added = ", ".join(self.mappings_created) if self.mappings_created else "none"
        return f"{len(self.mappings_created)} model(s) added ({added}); {self.known} already known"


def provider_models_sync(*, provider_id: int, models: Iterable[dict[str, Any]]) -> ModelSyncResult:
    """Add the models a provider says it serves: `models` are `{"id", "owned_by"?, "capabilities"?}`
    with `id` the upstream name. A model the provider already serves (by upstream name, or a model it
    already maps under another upstream name) is left as the operator set it; missing Model rows are
    created; new mappings are marked `discovered`. Nothing is changed or deleted."""
    result = ModelSyncResult()
    with transaction.atomic():
        provider = Provider.objects.select_for_update().get(id=provider_id)
        mappings = list(ProviderModel.objects.filter(provider=provider).select_related("model"))
        served = {pm.upstream_name or pm.model.name for pm in mappings}
        mapped_models = {pm.model_id for pm in mappings}
        for entry in models:
            upstream = str(entry["id"])
            if upstream in served:
                result.known += 1
                continue
            model = Model.objects.filter(name__iexact=upstream).first()
            if model is None:
                owned_by = entry.get("owned_by")
                owned_by = owned_by if isinstance(owned_by, str) and owned_by else provider.name
                model = Model.objects.create(name=upstream, owned_by=owned_by[:100])
                result.models_created.append(model.name)
            elif model.id in mapped_models:
                result.known += 1
                continue
            ProviderModel.objects.create(
                provider=provider,
                model=model,
                upstream_name="" if upstream == model.name else upstream,
                capabilities=list(entry.get("capabilities") or ["chat"]),
                discovered=True,
            )
            served.add(upstream)
            mapped_models.add(model.id)
            result.mappings_created.append(model.name)
        if result.mappings_created:
            catalogue_invalidate()
    return result
