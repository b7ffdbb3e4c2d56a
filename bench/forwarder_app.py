"""The smallest Python gateway: an ASGI app that forwards the body to the upstream with aiohttp and
returns the answer (streamed when the request streams). No auth, validation, routing or records.

The benchmark's `forwarder` target serves it with the same uvicorn settings as the gateway: the CPU
it spends per request is the floor any Python gateway on uvicorn + aiohttp pays on this machine.
"""

import os

import aiohttp

UPSTREAM = os.environ["FORWARDER_UPSTREAM"]  # the fake upstream's origin; the request path is kept
_session: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global _session
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2000))
    headers = {"content-type": "application/json"}
    async with _session.post(UPSTREAM + scope["path"], data=body, headers=headers) as response:
        content_type = response.headers.get("content-type", "application/json").encode()
        await send(
            {"type": "http.response.start", "status": response.status, "headers": [(b"content-type", content_type)]}
        )
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
