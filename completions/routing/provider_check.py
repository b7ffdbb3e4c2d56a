"""Provider checks: one real, cheap request to each provider (`Adapter.probe`: its model list, e.g.
`GET /models` for the OpenAI protocol), sent concurrently, and the result recorded on its row.

Used by `manage.py checkproviders` and the admin's "Test selected providers" action: operator tools,
not the request path, so `providers_check()` is synchronous and runs its probes with `asyncio.run`.
A provider that answers is restored to `working` if health had marked it not working; one that does
not is marked not working with the reason (a cool-down later, one request probes it again). A status
an operator set to not working or ignored is never changed, but its latency and last error are.
"""

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.module_loading import import_string

from catalogue import services
from catalogue.models import Provider
from catalogue.selectors import provider_credential
from completions import errors
from completions.upstream.adapters import UpstreamTarget
from completions.upstream.client import build_http_client
from g4fsite.conf import gateway_settings


@dataclass(frozen=True, slots=True)
class CheckResult:
    provider: str
    ok: bool
    latency_ms: float
    error: str = ""
    outcome: str = ""  # what happened to the provider's status, in words
    skipped: bool = False

    def summary(self) -> str:
        if self.skipped:
            return f"{self.provider}: skipped ({self.error})"
        state = "ok" if self.ok else "FAILED"
        detail = f": {self.error}" if self.error else ""
        return f"{self.provider}: {state} in {self.latency_ms:.0f} ms{detail} ({self.outcome})"


def _target(provider: Provider) -> UpstreamTarget:
    return UpstreamTarget(
        provider=provider.name,
        base_url=provider.base_url,
        upstream_model="",
        api_key=provider_credential(provider),
        timeout=min(provider.timeout, gateway_settings.PROBE_TIMEOUT),
    )


async def _probe(client, provider: Provider) -> CheckResult:
    """Probe one provider; never raises for an upstream failure."""
    if provider.needs_auth and not provider_credential(provider):
        return CheckResult(provider.name, ok=False, latency_ms=0.0, error="no credential configured", skipped=True)
    path = gateway_settings.ADAPTERS.get(provider.adapter)
    if path is None:
        return CheckResult(
            provider.name, ok=False, latency_ms=0.0, error=f"no adapter '{provider.adapter}'", skipped=True
        )
    adapter = import_string(path)(client)
    started = time.monotonic()
    try:
        await adapter.probe(_target(provider))
    except errors.UnsupportedCapability as exc:
        return CheckResult(provider.name, ok=False, latency_ms=0.0, error=exc.message, skipped=True)
    except errors.RateLimited as exc:  # it answered: working, only busy
        return CheckResult(provider.name, ok=True, latency_ms=_ms(started), error=f"RateLimited: {exc.message}")
    except errors.GatewayError as exc:
        return CheckResult(
            provider.name, ok=False, latency_ms=_ms(started), error=f"{type(exc).__name__}: {exc.message}"
        )
    return CheckResult(provider.name, ok=True, latency_ms=_ms(started))


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


async def providers_probe(providers: Iterable[Provider]) -> list[CheckResult]:
    """Probe every provider concurrently over one HTTP client; results in the given order."""
    client = build_http_client()
    try:
        return list(await asyncio.gather(*(_probe(client, provider) for provider in providers)))
    finally:
        await client.aclose()


def providers_check(providers: Iterable[Provider]) -> list[CheckResult]:
    """Probe the providers and record each result on its row (status, latency, last error, last check)."""
    providers = list(providers)
    results = asyncio.run(providers_probe(providers))
    recorded = []
    for provider, result in zip(providers, results, strict=True):
        if result.skipped:
            recorded.append(result)
            continue
        outcome = services.provider_check_record(
            key=(provider.id, provider.created_at),
            ok=result.ok,
            latency_ms=result.latency_ms,
            error=result.error,
            cooldown=gateway_settings.BREAKER_COOLDOWN,
        )
        recorded.append(CheckResult(result.provider, result.ok, result.latency_ms, result.error, outcome))
    return recorded
