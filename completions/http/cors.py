"""Which web origins may call the gateway from a browser: only those in `G4F["CORS_ORIGINS"]`
(`G4F_CORS_ORIGINS`, `g4f api --cors-origin`), none by default; `*` allows any origin.

The Channels consumers add the headers themselves (`cors_headers`); Django views get them from
django-cors-headers, whose own origin lists stay empty and which asks `origin_allowed` through its
`check_request_enabled` signal, so one setting decides for both. `g4fsite.asgi` refuses requests
from other origins before any endpoint runs (a browser sends some cross-origin requests, such as a
form's POST, without asking first).
"""

from corsheaders.conf import conf
from corsheaders.signals import check_request_enabled

from g4fsite.conf import gateway_settings


def origin_allowed(origin: str) -> bool:
    """Whether the operator allowed this origin (`scheme://host[:port]`) to call the gateway."""
    origins = gateway_settings.CORS_ORIGINS
    return "*" in origins or origin in origins


def cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    """Response headers allowing `origin`, or none when it is not allowed."""
    if not origin or not origin_allowed(origin):
        return []
    allowed = "*" if "*" in gateway_settings.CORS_ORIGINS else origin
    headers = [(b"access-control-allow-origin", allowed.encode("latin-1"))]
    if allowed != "*":
        headers.append((b"vary", b"origin"))
    if conf.CORS_EXPOSE_HEADERS:
        headers.append((b"access-control-expose-headers", ", ".join(conf.CORS_EXPOSE_HEADERS).encode()))
    return headers


def preflight_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-methods", ", ".join(conf.CORS_ALLOW_METHODS).encode()),
        (b"access-control-allow-headers", ", ".join(conf.CORS_ALLOW_HEADERS).encode()),
        (b"access-control-max-age", str(conf.CORS_PREFLIGHT_MAX_AGE).encode()),
    ]


def _django_origin_allowed(sender, request, **kwargs) -> bool:
    origin = request.headers.get("origin")
    return bool(origin) and origin_allowed(origin)


check_request_enabled.connect(_django_origin_allowed, dispatch_uid="g4f-cors-origins")
