"""Server-Sent Events from a streamed upstream answer: its `data:` payloads, or (event, data) pairs."""

from collections.abc import AsyncIterator

from completions.upstream.transport import UpstreamResponse


async def iter_sse_data(response: UpstreamResponse) -> AsyncIterator[str]:
    """Yield the `data:` payloads of a Server-Sent Events response, one per event."""
    data: list[str] = []
    async for lines in response.aiter_line_batches():
        for line in lines:
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
    if data:
        yield "\n".join(data)


async def iter_sse_events(response: UpstreamResponse) -> AsyncIterator[tuple[str, str]]:
    """Yield `(event, data)` pairs of a Server-Sent Events response (event defaults to "message")."""
    event, data = "message", []
    async for lines in response.aiter_line_batches():
        for line in lines:
            if not line:
                if data:
                    yield event, "\n".join(data)
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
    if data:
        yield event, "\n".join(data)
