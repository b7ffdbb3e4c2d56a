"""One accessor for the gateway's own settings, like DRF's `api_settings` over `REST_FRAMEWORK`.

`gateway_settings.TIMEOUT` reads `settings.G4F["TIMEOUT"]`, falling back to `DEFAULTS`. The cache
is dropped when Django's `setting_changed` fires (tests use `override_settings`), and
`gateway_settings.override(...)` lets the command line set values at start-up.
"""

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Master key: when set (or when any ApiKey exists), every /v1 and /api request needs a key.
    "API_KEY": "",
    # Defaults for requests that omit `model` / `provider`.
    "DEFAULT_MODEL": "",
    "DEFAULT_PROVIDER": "",
    # Outbound proxy for upstream calls ("" = none).
    "PROXY": "",
    # Upstream timeout in seconds; None uses each provider's own timeout.
    "TIMEOUT": None,
    "CONNECT_TIMEOUT": 10.0,
    # Providers excluded from routing as if the operator had marked them ignored.
    "IGNORED_PROVIDERS": [],
    # Upstream protocol name -> adapter class.
    "ADAPTERS": {
        "openai": "completions.adapters.openai.OpenAIAdapter",
        "anthropic": "completions.adapters.anthropic.AnthropicAdapter",
        "gemini": "completions.adapters.gemini.GeminiAdapter",
        "pollinations": "completions.adapters.pollinations.PollinationsAdapter",
    },
    # Client-supplied image URLs the gateway must fetch itself (completions.safe_fetch): the largest
    # body accepted, in bytes, and the seconds allowed for the whole fetch, redirects included.
    "IMAGE_FETCH_MAX_BYTES": 10 * 1024 * 1024,
    "IMAGE_FETCH_TIMEOUT": 15.0,
    # Pool of the shared upstream HTTP client.
    "MAX_CONNECTIONS": 1000,
    "MAX_KEEPALIVE_CONNECTIONS": 200,
    # How the catalogue cache learns of changes made by other processes: "file" or "cache".
    "CATALOGUE_STAMP": "file",
    # Largest request body accepted on the chat endpoints, in bytes.
    "MAX_REQUEST_BYTES": 20 * 1024 * 1024,
    # Seconds between flushes of the usage-record queue.
    "USAGE_FLUSH_INTERVAL": 0.5,
    # A client-supplied `proxy` is refused unless allowed and on the allow-list.
    "ALLOW_REQUEST_PROXY": False,
    "PROXY_ALLOWLIST": [],
}


class GatewaySettings:
    """Attribute access to `settings.G4F` with defaults; unknown names raise AttributeError."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}
        self._overrides: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown gateway setting: {name}")
        try:
            return self._cache[name]
        except KeyError:
            pass
        if name in self._overrides:
            value = self._overrides[name]
        else:
            value = getattr(settings, "G4F", {}).get(name, DEFAULTS[name])
        self._cache[name] = value
        return value

    def override(self, **values: Any) -> None:
        """Set values at start-up (command line flags); they win over settings and environment."""
        for name in values:
            if name not in DEFAULTS:
                raise AttributeError(f"Unknown gateway setting: {name}")
        self._overrides.update(values)
        self.reload()

    def reload(self) -> None:
        self._cache.clear()


gateway_settings = GatewaySettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "G4F":
        gateway_settings.reload()


setting_changed.connect(_reload)
