"""Registry of upstream protocol adapters, keyed by protocol name (`G4F["ADAPTERS"]`)."""

import asyncio
import weakref

from django.utils.module_loading import import_string

from completions import errors
from completions.upstream.adapters.base import Adapter, SpeechResult, UpstreamTarget
from completions.upstream.client import get_http_client
from g4fsite.conf import gateway_settings

__all__ = ["Adapter", "SpeechResult", "UpstreamTarget", "adapter_for", "protocol_names"]

_adapters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], Adapter]]" = (
    weakref.WeakKeyDictionary()
)


def protocol_names() -> list[str]:
    """The protocol names an operator may choose for a provider."""
    return sorted(gateway_settings.ADAPTERS)


def adapter_for(protocol: str, *, proxy: str | None = None) -> Adapter:
    """The adapter for a protocol, built once per event loop around the shared HTTP client (or,
    with `proxy`, around the loop's client for that allowed per-request proxy)."""
    loop = asyncio.get_running_loop()
    per_loop = _adapters.setdefault(loop, {})
    adapter = per_loop.get((protocol, proxy or ""))
    if adapter is None:
        path = gateway_settings.ADAPTERS.get(protocol)
        if path is None:
            raise errors.ProviderNotWorking(f"No adapter is registered for the '{protocol}' protocol.")
        adapter = per_loop[(protocol, proxy or "")] = import_string(path)(get_http_client(proxy))
    return adapter
