"""The fake's ``/files/...`` paths, which belong to no provider: what image URLs point to.

- ``GET /files/image.png``: the tiny PNG (``assets.TINY_PNG``);
- ``GET /files/redirect?to=URL``: a 302 to ``URL`` (a provider image URL that redirects elsewhere).
"""

from __future__ import annotations

from .assets import TINY_PNG
from .wire import Reply, Request, raw_reply


def file_reply(request: Request) -> Reply | None:
    """The reply for a ``/files/...`` request, or None when the path is not one of them."""
    if request.method != "GET":
        return None
    if request.path == "/files/image.png":
        return raw_reply(TINY_PNG, "image/png")
    if request.path == "/files/redirect" and request.query.get("to"):
        return Reply(302, ((b"location", request.query["to"].encode("latin-1")),), b"")
    return None
