"""Stored cookies by domain: the per-domain caps an upload must stay within, the admin's summary
(counts, sizes and expiry; never values) and deletion.

Every cookie of a domain goes on each request to a matching provider, so one upload of 100,000
cookies made every request to that provider fail: `COOKIE_MAX_PER_DOMAIN` and
`COOKIE_MAX_BYTES_PER_DOMAIN` (bytes of `name=value`) bound what a domain may hold after an upload.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import Length
from django.utils import timezone

from catalogue.cache import catalogue_invalidate
from completions import errors
from completions.models import ProviderCookie
from g4fsite.conf import gateway_settings


def cookie_size(name: str, value: str) -> int:
    """Length of `name=value` in a Cookie header, counted as the database counts it (characters; cookie
    values are ASCII in practice, so bytes)."""
    return len(name) + 1 + len(value)


def _unexpired(now: datetime) -> Q:
    return Q(expires__isnull=True) | Q(expires__gt=now)


def domain_limits_check(rows: Iterable[ProviderCookie]) -> None:
    """Raise CookieLimitExceeded when storing `rows` (upserted by domain, name and path) would leave
    a domain with more cookies or bytes than allowed; stored cookies already expired do not count.
    Call it inside the storing transaction."""
    incoming: dict[str, dict[tuple[str, str], int]] = {}
    for row in rows:
        incoming.setdefault(row.domain, {})[(row.name, row.path)] = cookie_size(row.name, row.value)
    if not incoming:
        return
    stored = (
        ProviderCookie.objects.filter(_unexpired(timezone.now()), domain__in=list(incoming))
        .annotate(size=Length("name") + 1 + Length("value"))
        .values_list("domain", "name", "path", "size")
    )
    for domain, name, path, size in stored.iterator():
        incoming[domain].setdefault((name, path), size)
    max_count = gateway_settings.COOKIE_MAX_PER_DOMAIN
    max_bytes = gateway_settings.COOKIE_MAX_BYTES_PER_DOMAIN
    for domain, cookies in sorted(incoming.items()):
        count, size = len(cookies), sum(cookies.values())
        if count > max_count:
            raise errors.CookieLimitExceeded(
                f"Cookies for '{domain}' would number {count}; at most {max_count} are kept per domain "
                "(setting COOKIE_MAX_PER_DOMAIN). Nothing was stored.",
                param="files",
            )
        if size > max_bytes:
            raise errors.CookieLimitExceeded(
                f"Cookies for '{domain}' would take {size} bytes; at most {max_bytes} bytes are kept per "
                "domain (setting COOKIE_MAX_BYTES_PER_DOMAIN). Nothing was stored.",
                param="files",
            )


@dataclass(frozen=True, slots=True)
class DomainSummary:
    """What the admin shows for one cookie domain."""

    domain: str
    cookies: int
    expired: int
    bytes: int
    next_expiry: datetime | None  # the soonest expiry among unexpired cookies; None: all session cookies
    last_expiry: datetime | None
    updated_at: datetime


def cookie_domains_summary() -> list[DomainSummary]:
    """Every domain with stored cookies: counts, sizes and expiry, read without loading any value."""
    now = timezone.now()
    rows = (
        ProviderCookie.objects.values("domain")
        .annotate(
            cookies=Count("id"),
            expired=Count("id", filter=Q(expires__lte=now)),
            bytes=Sum(Length("name") + 1 + Length("value")),
            next_expiry=Min("expires", filter=Q(expires__gt=now)),
            last_expiry=Max("expires"),
            updated_at=Max("updated_at"),
        )
        .order_by("domain")
    )
    return [DomainSummary(**row) for row in rows]


def cookies_delete(*, ids: Iterable[int] = (), domains: Iterable[str] = (), expired: bool = False) -> int:
    """Delete cookies by id, by domain, or every expired one; routing stops sending them at once."""
    query = Q(id__in=list(ids)) | Q(domain__in=list(domains))
    if expired:
        query |= Q(expires__lte=timezone.now())
    with transaction.atomic():
        deleted, _ = ProviderCookie.objects.filter(query).delete()
        if deleted:
            catalogue_invalidate()
    return deleted
