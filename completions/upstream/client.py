"""The one pooled upstream transport each event loop uses (`get_http_client`), and short-lived ones."""

import asyncio
import weakref

from completions.upstream.aiohttp_transport import AiohttpTransport
from completions.upstream.transport import UpstreamTransport
from g4fsite.conf import gateway_settings

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AiohttpTransport]" = weakref.WeakKeyDictionary()
# Clients for client-supplied proxies (allow-listed, so few): one per (loop, proxy URL).
_proxy_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AiohttpTransport]]" = (
    weakref.WeakKeyDictionary()
)


def build_http_client(*, proxy: str | None = None) -> AiohttpTransport:
    """A new pooled transport (through `proxy`, else `G4F["PROXY"]`); the caller `aclose()`s it, or
    uses it as `async with`."""
    return AiohttpTransport(max_connections=gateway_settings.MAX_CONNECTIONS, proxy=proxy or gateway_settings.PROXY)


def get_http_client(proxy: str | None = None) -> UpstreamTransport:
    """The shared transport for the running event loop (an aiohttp pool is bound to one loop); with
    `proxy`, the loop's transport that goes through that proxy instead of `G4F["PROXY"]`."""
    loop = asyncio.get_running_loop()
    if proxy:
        per_loop = _proxy_clients.setdefault(loop, {})
        client = per_loop.get(proxy)
        if client is None:
            client = per_loop[proxy] = build_http_client(proxy=proxy)
        return client
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = build_http_client()
    return client
