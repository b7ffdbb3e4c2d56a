"""The one pooled async HTTP client each process uses for upstream calls."""

import asyncio
import weakref

import httpx

from g4fsite.conf import gateway_settings

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


def build_http_client(*, proxy: str | None = None) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=gateway_settings.MAX_CONNECTIONS,
        max_keepalive_connections=gateway_settings.MAX_KEEPALIVE_CONNECTIONS,
        keepalive_expiry=30,
    )
    return httpx.AsyncClient(
        limits=limits,
        proxy=proxy or gateway_settings.PROXY or None,
        timeout=httpx.Timeout(60.0, connect=gateway_settings.CONNECT_TIMEOUT),
        follow_redirects=False,
        trust_env=False,
    )


def get_http_client() -> httpx.AsyncClient:
    """The shared client for the running event loop (httpx clients are bound to one loop)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = build_http_client()
    return client
