"""The one pooled upstream transport each event loop uses (`get_http_client`), short-lived ones, and
the per-provider request slots (`provider_slots`) that keep one provider from taking the whole pool."""

import asyncio
import contextlib
import weakref
from collections import deque

from completions import errors
from completions.upstream.aiohttp_transport import AiohttpTransport
from completions.upstream.h1 import H1Transport
from completions.upstream.transport import UpstreamTransport
from g4fsite.conf import gateway_settings

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, UpstreamTransport]" = weakref.WeakKeyDictionary()
# Clients for client-supplied proxies (allow-listed, so few): one per (loop, proxy URL).
_proxy_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AiohttpTransport]]" = (
    weakref.WeakKeyDictionary()
)


def build_http_client(*, proxy: str | None = None) -> AiohttpTransport | H1Transport:
    """A new pooled transport (through `proxy`, else `G4F["PROXY"]`); the caller `aclose()`s it, or
    uses it as `async with`. Direct requests go through `H1Transport`, proxied ones through aiohttp."""
    proxy = proxy or gateway_settings.PROXY
    caps = {
        "max_connections": gateway_settings.MAX_CONNECTIONS,
        "max_body_bytes": gateway_settings.UPSTREAM_MAX_BODY_BYTES,
        "max_line_bytes": gateway_settings.UPSTREAM_MAX_LINE_BYTES,
        "max_stream_bytes": gateway_settings.UPSTREAM_MAX_STREAM_BYTES,
    }
    return AiohttpTransport(proxy=proxy, **caps) if proxy else H1Transport(**caps)


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


class RequestSlots:
    """A counting semaphore for one event loop whose free path is an integer increment (an
    `asyncio.Semaphore` costs a coroutine and a scan of its waiters per request). A released slot
    goes straight to the longest waiter, so waiters exist only while every slot is taken."""

    __slots__ = ("limit", "taken", "_waiters")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        if self.taken < self.limit:
            self.taken += 1
            return True
        return False

    async def acquire(self, wait: float) -> None:
        """Take a slot, waiting at most `wait` seconds for one (then `ProviderBusy`)."""
        if self.try_acquire():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(wait):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():  # handed a slot just as the time ran out
                self.release()
            raise errors.ProviderBusy(
                f"The provider already has {self.limit} requests in progress from this server; none "
                f"finished within {wait:g}s. Retry shortly.",
                retry_after=1,
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: `taken` stays
                return
        self.taken -= 1


# provider name -> its request slots, per event loop (a future belongs to one loop).
_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, RequestSlots]]" = weakref.WeakKeyDictionary()


def provider_slots(provider: str) -> RequestSlots:
    """The provider's `G4F["PROVIDER_MAX_CONNECTIONS"]` request slots on this loop. Take one with
    `try_acquire()` (free path, no await) or else `await acquire(wait)`; `release()` it after."""
    per_loop = _slots.get(asyncio.get_running_loop())
    if per_loop is None:
        per_loop = _slots[asyncio.get_running_loop()] = {}
    slots = per_loop.get(provider)
    limit = gateway_settings.PROVIDER_MAX_CONNECTIONS
    if slots is None or slots.limit != limit:  # (requests in flight release their old slots)
        slots = per_loop[provider] = RequestSlots(limit)
    return slots
