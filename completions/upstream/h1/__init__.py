"""`H1Transport`: the production `UpstreamTransport` for requests that go straight to the provider.

HTTP/1.1 over asyncio protocols, answers parsed by httptools (llhttp, the parser uvicorn serves
with), one keep-alive pool per transport. aiohttp's client spends about 200 µs of CPU per request
on its URL and header objects, tracing hooks and stream reader; this spends about 40
(bench/README). Requests through an HTTP proxy (`G4F["PROXY"]`, a caller's allowed `proxy`) go
through `AiohttpTransport`, which also speaks CONNECT; `client.build_http_client` chooses.

The contract is `completions.upstream.transport`'s, as `AiohttpTransport` keeps it: headers as
given plus `Host` and `Content-Length`, no cookies, no redirects, `server_hostname` for TLS,
`gzip`/`deflate` answers decoded, the same caps counted on decoded bytes while reading, and
httpx2's exceptions. A connection goes back to the pool only after its answer was read to the end
under keep-alive; a stream left early (a cancelled request) closes its connection.

    transport.py    H1Transport: request bytes, the pool's use, connecting (TLS, timeouts)
    connection.py   Connection (one socket and the answer read on it) and Pool (idle, limit, waiters)
    response.py     H1Response: the body as it arrives, decoded, under the caps; lines
"""

from completions.upstream.h1.response import H1Response
from completions.upstream.h1.transport import H1Transport

__all__ = ["H1Response", "H1Transport"]
