"""The one pooled async HTTP client each process uses for upstream calls."""

import asyncio
import weakref

import httpx2

from completions.upstream.transport import AiohttpTransport
from g4fsite.conf import gateway_settings

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient]" = weakref.WeakKeyDictionary()
# Clients for client-supplied proxies (allow-listed, so few): one per (loop, proxy URL).
_proxy_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx2.AsyncClient]]" = (
    weakref.WeakKeyDictionary()
)


class UpstreamClient(httpx2.AsyncClient):
    """An httpx2 client over an `AiohttpTransport`; `direct` is that transport, for the adapters'
    requests that skip httpx2's objects (`completions.upstream.adapters.base.Adapter.send`)."""

    def __init__(self, *, transport: AiohttpTransport, **kwargs) -> None:
        super().__init__(transport=transport, **kwargs)
        self.direct = transport

    @property
    def cookies(self) -> httpx2.Cookies:
        """Always an empty jar: the shared client must never keep one caller's `Set-Cookie` for
        another caller's request (provider cookies go in each request's `Cookie` header)."""
        return httpx2.Cookies()

    @cookies.setter
    def cookies(self, value: object) -> None:
        pass


def build_http_client(*, proxy: str | None = None) -> UpstreamClient:
    transport = AiohttpTransport(
        max_connections=gateway_settings.MAX_CONNECTIONS, proxy=proxy or gateway_settings.PROXY
    )
    return UpstreamClient(
        transport=transport,
        timeout=httpx2.Timeout(60.0, connect=gateway_settings.CONNECT_TIMEOUT),
        follow_redirects=False,
        trust_env=False,
    )


def get_http_client(proxy: str | None = None) -> httpx2.AsyncClient:
    """The shared client for the running event loop (httpx2 clients are bound to one loop); with
    `proxy`, the loop's client that goes through that proxy instead of `G4F["PROXY"]`."""
    loop = asyncio.get_running_loop()
    if proxy:
        per_loop = _proxy_clients.setdefault(loop, {})
        client = per_loop.get(proxy)
        if client is None or client.is_closed:
            client = per_loop[proxy] = build_http_client(proxy=proxy)
        return client
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = build_http_client()
    return client
