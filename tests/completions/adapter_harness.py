"""Adapter unit tests' harness: one adapter over a `FakeTransport`, each call run on a fresh loop."""

import asyncio
from typing import Any

from completions.upstream.adapters.base import Adapter, UpstreamTarget
from tests.completions.fake_transport import FakeTransport, SentRequest


class AdapterRun:
    """Runs `adapter_class` methods against `transport`; a streamed chat is collected into a list."""

    def __init__(self, adapter_class: type[Adapter], target: UpstreamTarget, transport: FakeTransport) -> None:
        self.adapter_class = adapter_class
        self.target = target
        self.transport = transport

    @property
    def requests(self) -> list[SentRequest]:
        return self.transport.requests

    @property
    def body(self) -> Any:
        """The JSON body of the last request."""
        return self.requests[-1].json()

    def run(self, method: str, *args: Any, target: UpstreamTarget | None = None) -> Any:
        async def go():
            result = getattr(self.adapter_class(self.transport), method)(target or self.target, *args)
            if method == "chat_stream":
                return [chunk async for chunk in result]
            return await result

        return asyncio.run(go())
