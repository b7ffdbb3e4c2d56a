"""Request logging for `g4f api --debug`: one line per request, and nothing secret in it.

`RequestLogMiddleware` wraps the whole ASGI application. It logs the method, the path (never the
query string, which may carry a key), the status, the latency, and the provider and model the chat
consumer noted with `note()`. No header, cookie or body is ever read for logging, so Authorization,
`g4f-api-key`, cookies and upstream keys cannot appear. Off (`G4F["DEBUG"]` false) it costs one
attribute read per request.
"""

import logging
import os
import time
from typing import Any

from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.access")

SCOPE_KEY = "g4f.request_log"


def note(scope: dict, **fields: str) -> None:
    """Attach fields (provider, model) to the request's log line, if it is being logged."""
    entry = scope.get(SCOPE_KEY)
    if entry is not None:
        entry.update({name: value for name, value in fields.items() if value})


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() and not ch.isspace() else "?" for ch in text)[:300]


class RequestLogMiddleware:
    """ASGI middleware writing one `g4f.access` line per HTTP request when request logging is on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not gateway_settings.DEBUG:
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        entry: dict[str, Any] = {"status": 0}
        scope = {**scope, SCOPE_KEY: entry}

        async def logged_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"x-provider":
                        entry.setdefault("provider", value.decode("latin-1"))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            logger.info(
                "%s %s %s %.1fms provider=%s model=%s pid=%d",
                scope.get("method", "-"),
                _printable(scope.get("path", "")),
                entry["status"] or "-",
                (time.monotonic() - started) * 1000,
                _printable(entry.get("provider", "-")),
                _printable(entry.get("model", "-")),
                os.getpid(),
            )
