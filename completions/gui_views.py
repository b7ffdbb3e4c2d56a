"""The chat page at `/chat/` (`g4f api --gui`). Off, it answers the usual 404 error body."""

import re
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from completions import errors
from completions.views import read_only
from g4fsite.conf import gateway_settings


@read_only
def chat_page(request: HttpRequest) -> HttpResponse:
    """The GUI's single page; all data comes from the `/v1` API in the browser."""
    if not gateway_settings.GUI:
        exc = errors.NotFound("The web GUI is not enabled on this server (start it with `g4f api --gui`).")
        return JsonResponse(errors.error_body(exc), status=exc.status_code)
    response = render(request, "gui/chat.html", {"api_base": "/v1", "demo": gateway_settings.DEMO})
    response["Content-Security-Policy"] = gui_content_security_policy()
    return response


def gui_content_security_policy() -> str:
    """No asset from elsewhere: scripts, styles, connections and images stay on this origin (images
    also from PUBLIC_BASE_URL, where generated images are linked when the gateway is behind a proxy).
    A model's reply can then never make the browser send the chat's text to a host the model picked."""
    images = ["'self'", "data:", "blob:"]
    public_origin = _origin(gateway_settings.PUBLIC_BASE_URL)
    if public_origin:
        images.append(public_origin)
    return (
        f"default-src 'self'; img-src {' '.join(images)}; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


def _origin(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL, or "" (never user info or characters a CSP would split on)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not re.fullmatch(r"[a-z0-9.\-:]+", host):
        return ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
