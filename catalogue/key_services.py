"""Writes to API keys: create, update (limits, allowed models, expiry), revoke, touch."""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalogue.cache import catalogue_invalidate
from catalogue.models import ApiKey

KEY_PREFIX = "sk-g4f-"
# What `api_key_create` / `api_key_update` take besides the name; None removes a limit.
KEY_SETTINGS = (
    *("rpm", "tpm", "max_concurrent", "budget", "budget_period"),
    *("allowed_models", "allowed_providers", "expires_at"),
)


class CatalogueError(Exception):
    """A catalogue file or operator command is invalid; the message says why."""


def api_key_hash(key: str) -> str:
    """Keys are 256-bit random strings, so one SHA-256 is enough (no slow password hash needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, name: str, **settings: Any) -> tuple[ApiKey, str]:
    """Create a key with `settings` (KEY_SETTINGS); return the row and the plain key, which is not
    stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise CatalogueError("A key needs a name.")
    if ApiKey.objects.filter(name=name).exists():
        raise CatalogueError(f"A key named '{name}' already exists.")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=plain[: len(KEY_PREFIX) + 6], key_hash=api_key_hash(plain))
    _apply(key, settings)
    with transaction.atomic():
        key.save()
        catalogue_invalidate()
    return key, plain


def api_key_update(*, name: str, **settings: Any) -> ApiKey:
    """Change a key's limits, allowed models or providers, or expiry (KEY_SETTINGS; None removes one)."""
    try:
        key = ApiKey.objects.get(name=name)
    except ApiKey.DoesNotExist:
        raise CatalogueError(f"No key named '{name}'.") from None
    _apply(key, settings)
    with transaction.atomic():
        key.save()
        catalogue_invalidate()
    return key


def _apply(key: ApiKey, settings: dict[str, Any]) -> None:
    unknown = sorted(set(settings) - set(KEY_SETTINGS))
    if unknown:
        raise CatalogueError(f"Unknown key settings: {', '.join(unknown)}.")
    for name, value in settings.items():
        if name in ("allowed_models", "allowed_providers"):
            value = [item.strip() for item in value or () if item.strip()]
        elif name == "budget_period" and value is None:
            value = ApiKey.BudgetPeriod.MONTH
        elif name == "budget" and value is not None:
            value = Decimal(str(value))
        elif name == "expires_at" and isinstance(value, datetime) and timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.get_current_timezone())
        setattr(key, name, value)
    try:
        key.full_clean(exclude=["key_hash", "prefix"], validate_unique=False)
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
        raise CatalogueError(f"Invalid key settings: {problems}") from None


def api_key_revoke(*, name: str) -> ApiKey:
    try:
        key = ApiKey.objects.get(name=name)
    except ApiKey.DoesNotExist:
        raise CatalogueError(f"No key named '{name}'.") from None
    if key.revoked_at is None:
        with transaction.atomic():
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            catalogue_invalidate()
    return key


def api_keys_touch(*, key_ids: Iterable[int]) -> None:
    """Record that keys were used (no invalidation: routing does not read last_used_at)."""
    ids = list(key_ids)
    if ids:
        ApiKey.objects.filter(id__in=ids).update(last_used_at=timezone.now())
