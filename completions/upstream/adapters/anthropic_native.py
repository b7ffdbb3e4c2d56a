"""The Anthropic protocol's native pass-through: a Messages request relayed as the client sent it.

`completions.inbound.anthropic` sends a client's Messages body to an `anthropic` provider through
`NativeMessages`: the bytes go as given (the inbound side only swaps the model name), answers and
stream events come back unparsed, so thinking blocks and their signatures are never re-serialised.
Errors are the adapter's own (`raise_for_anthropic_status`, `stream_error`).
"""

from collections.abc import AsyncIterator, Mapping

from completions.upstream.adapters.anthropic import (
    AnthropicAdapter,
    _event_data,
    raise_for_anthropic_status,
    stream_error,
)
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.status import translate_errors
from completions.upstream.transport import UpstreamResponse


class NativeMessages:
    """The raw Messages calls of an `AnthropicAdapter`: bodies go as given, answers come back unparsed.
    `client_headers` are the client's `anthropic-version` / `anthropic-beta` values to pass on."""

    def __init__(self, adapter: AnthropicAdapter) -> None:
        self.adapter = adapter

    def _headers(self, target: UpstreamTarget, client_headers: Mapping[str, str]) -> dict[str, str]:
        return {**self.adapter.headers(target), **{k: v for k, v in client_headers.items() if v}}

    async def post(
        self, target: UpstreamTarget, path: str, body: bytes, client_headers: Mapping[str, str]
    ) -> UpstreamResponse:
        """POST `body` to `path` (`v1/messages`, `v1/messages/count_tokens`); the answer, status checked."""
        with translate_errors():
            response = await self.adapter.client.fetch(
                "POST",
                target.url(path),
                headers=self._headers(target, client_headers),
                content=body,
                timeout=target.request_timeout(),
            )
        raise_for_anthropic_status(response)
        return response

    async def stream(
        self, target: UpstreamTarget, body: bytes, client_headers: Mapping[str, str]
    ) -> AsyncIterator[bytes]:
        """POST a streaming `body` to `v1/messages` and yield each Server-Sent Event's bytes as received
        (blank-line terminated); an `error` event raises its gateway error instead."""
        with translate_errors():
            async with self.adapter.client.stream(
                "POST",
                target.url("v1/messages"),
                headers=self._headers(target, client_headers),
                content=body,
                timeout=target.request_timeout(),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise_for_anthropic_status(response)
                pending = b""
                async for piece in response.aiter_bytes():
                    pending += piece
                    *events, pending = pending.replace(b"\r\n", b"\n").split(b"\n\n")
                    for event in events:
                        if event.startswith(b"event: error") or event.startswith(b"event:error"):
                            raise stream_error(_event_data(event.partition(b"data:")[2].decode()).get("error") or {})
                        if event:
                            yield event + b"\n\n"
                if pending.strip():
                    yield pending + b"\n\n"
