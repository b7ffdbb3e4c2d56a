"""CORS for the consumer endpoints, which Django middleware does not reach. Reads the same
django-cors-headers settings (`CORS_ALLOWED_ORIGINS`, `CORS_ALLOW_ALL_ORIGINS`, ...) as the rest."""

from corsheaders.conf import conf


def cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    """Response headers allowing `origin`, or none when it is not allowed."""
    if not origin:
        return []
    if conf.CORS_ALLOW_ALL_ORIGINS:
        allowed = "*"
    elif origin in conf.CORS_ALLOWED_ORIGINS:
        allowed = origin
    else:
        return []
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
