"""Whether a client may name the outbound proxy for its own request (the G4F `proxy` field).

Off by default (`G4F["ALLOW_REQUEST_PROXY"]`). When on, only proxies on `G4F["PROXY_ALLOWLIST"]`
are accepted, so no client can make the server reach an arbitrary address. A proxy matches an entry
when both are the same URL once normalised: scheme, host (case-insensitive), port (80 / 443 when
omitted) and credentials equal; the path is ignored. An entry written `host:port` means
`http://host:port`. The operator's entry, not the client's spelling, is what the gateway uses.
"""

from urllib.parse import SplitResult, urlsplit

from completions import errors
from g4fsite.conf import gateway_settings

SCHEMES = {"http": 80, "https": 443}


def _key(url: str) -> tuple | None:
    """(scheme, user, password, host, port) of an http(s) proxy URL, or None when it is not one."""
    if "://" not in url:
        url = f"http://{url}"
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        return None
    return (scheme, parts.username or "", parts.password or "", parts.hostname.lower(), port or SCHEMES[scheme])


def request_proxy(value: str | None) -> str | None:
    """The proxy to use for a request that asked for `value`; raises a 400 on `proxy` when refused."""
    if not value:
        return None
    if not gateway_settings.ALLOW_REQUEST_PROXY:
        raise errors.ValidationFailed("Per-request proxies are not allowed on this server.", param="proxy")
    wanted = _key(value)
    if wanted is None:
        raise errors.ValidationFailed("'proxy' must be an http:// or https:// proxy URL.", param="proxy")
    for entry in gateway_settings.PROXY_ALLOWLIST:
        if _key(entry) == wanted:
            return entry if "://" in entry else f"http://{entry}"
    raise errors.ValidationFailed("This proxy is not on the server's allow-list.", param="proxy")
