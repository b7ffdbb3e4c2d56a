"""One accessor for the gateway's own settings, like DRF's `api_settings` over `REST_FRAMEWORK`.

`gateway_settings.TIMEOUT` reads `settings.G4F["TIMEOUT"]`, falling back to `DEFAULTS`. The cache
is dropped when Django's `setting_changed` fires (tests use `override_settings`), and
`gateway_settings.override(...)` lets the command line set values at start-up.
"""

import os
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
    # Provider health (completions/routing/health.py). The circuit breaker opens after BREAKER_THRESHOLD
    # failures in a row within BREAKER_WINDOW seconds: the provider is marked not working for
    # BREAKER_COOLDOWN seconds (AUTH_FAILURE_COOLDOWN when the upstream rejects its credential), then
    # one probe request is let through. A 429 cools a provider down for its Retry-After (or
    # RATE_LIMIT_COOLDOWN when it gives none), at most MAX_RATE_LIMIT_COOLDOWN. Success rate and
    # latency are measured over HEALTH_WINDOW seconds and written for the admin every
    # HEALTH_FLUSH_INTERVAL seconds. PROBE_TIMEOUT bounds each `checkproviders` probe.
    "BREAKER_THRESHOLD": 5,
    "BREAKER_WINDOW": 60.0,
    "BREAKER_COOLDOWN": 60.0,
    "AUTH_FAILURE_COOLDOWN": 600.0,
    "RATE_LIMIT_COOLDOWN": 5.0,
    "MAX_RATE_LIMIT_COOLDOWN": 3600.0,
    "HEALTH_WINDOW": 300.0,
    "HEALTH_FLUSH_INTERVAL": 10.0,
    "PROBE_TIMEOUT": 15.0,
    # Upstream protocol name -> adapter class.
    "ADAPTERS": {
        "openai": "completions.upstream.adapters.openai.OpenAIAdapter",
        "anthropic": "completions.upstream.adapters.anthropic.AnthropicAdapter",
        "gemini": "completions.upstream.adapters.gemini.GeminiAdapter",
        "pollinations": "completions.upstream.adapters.pollinations.PollinationsAdapter",
        # Built-in offline speech: runs the espeak-ng program (completions/upstream/adapters/local_speech.py).
        "espeak": "completions.upstream.adapters.local_speech.EspeakAdapter",
    },
    # Client-supplied image URLs the gateway must fetch itself (completions.upstream.safe_fetch): the largest
    # body accepted, in bytes, and the seconds allowed for the whole fetch, redirects included.
    "IMAGE_FETCH_MAX_BYTES": 10 * 1024 * 1024,
    "IMAGE_FETCH_TIMEOUT": 15.0,
    # Seconds model discovery (`catalogue refresh`, the admin action) waits for a provider's model list.
    "DISCOVERY_TIMEOUT": 20.0,
    # Most connections the shared upstream HTTP client keeps open at once, per process.
    "MAX_CONNECTIONS": 2000,
    # How the catalogue cache learns of changes made by other processes: "file" or "cache".
    "CATALOGUE_STAMP": "file",
    # Largest request body accepted on the chat endpoints, in bytes.
    "MAX_REQUEST_BYTES": 20 * 1024 * 1024,
    # Seconds between flushes of the usage-record queue (G4F_USAGE_FLUSH_INTERVAL). While the database
    # cannot be written, rows wait in memory, at most USAGE_BUFFER_ROWS (G4F_USAGE_BUFFER_ROWS) per
    # process; beyond that the oldest are dropped with a WARNING (completions/usage.py).
    "USAGE_FLUSH_INTERVAL": float(os.environ.get("G4F_USAGE_FLUSH_INTERVAL") or 0.5),
    "USAGE_BUFFER_ROWS": int(os.environ.get("G4F_USAGE_BUFFER_ROWS") or 50_000),
    # Seconds a stopping server (SIGTERM) lets requests and streams in flight finish before it cancels
    # them (G4F_GRACEFUL_TIMEOUT, `g4f api --graceful-timeout`; g4fsite/serving.py).
    "GRACEFUL_TIMEOUT": float(os.environ.get("G4F_GRACEFUL_TIMEOUT") or 30),
    # A client-supplied `proxy` is refused unless allowed and on the allow-list.
    "ALLOW_REQUEST_PROXY": False,
    "PROXY_ALLOWLIST": [],
    # Conversations (completions/conversations/turns.py): the history sent upstream is trimmed from the
    # oldest turns to at most this many messages and estimated tokens (0 = no limit); the stored
    # conversation keeps everything. A turn holds its conversation by a lease of LEASE seconds, renewed
    # every third of that while the turn runs (a crashed process's hold expires then); a concurrent turn
    # gets 409 conversation_busy.
    "CONVERSATION_MAX_MESSAGES": 100,
    "CONVERSATION_MAX_TOKENS": 32_000,
    "CONVERSATION_LEASE_SECONDS": 30.0,
    # Largest page of GET /v1/conversations (`limit`; default 20).
    "CONVERSATION_PAGE_MAX": 100,
    # Images, audio, media and cookies (completions/media/, completions/cookies/):
    # largest uploaded audio file and cookie file, in bytes (413 beyond).
    "MAX_UPLOAD_BYTES": 25 * 1024 * 1024,
    "COOKIE_MAX_BYTES": 1024 * 1024,
    # Largest image the gateway downloads from a provider's image URL, in bytes.
    "MEDIA_FETCH_MAX_BYTES": 20 * 1024 * 1024,
    # Cache-Control max-age of /media/ files, and the age past which `manage.py cleanmedia` removes them.
    "MEDIA_MAX_AGE": 7 * 24 * 3600,
    "MEDIA_RETENTION": 7 * 24 * 3600,
    # Public URL of this server ("https://gw.example.com") for /media/ links when behind a proxy;
    # "" builds them from the request's Host header.
    "PUBLIC_BASE_URL": "",
    # The chat page at /chat/ (`g4f api --gui`); off, /chat/ answers 404.
    "GUI": False,
    # Demo mode (`AppConfig.set_config(demo=True)`): the GUI says it is a public demo.
    "DEMO": False,
    # Web origins (`https://app.example.com`, or `*` for any) whose pages may call the gateway from a
    # browser (`--cors-origin`, G4F_CORS_ORIGINS); others are refused (completions/http/cors.py).
    "CORS_ORIGINS": [],
    # Request logging (`--debug`): method, path, status, latency, provider, model; never keys or cookies.
    "DEBUG": False,
    # Uploaded cookies (POST /v1/upload_cookies) ride on every key's requests to matching providers, so
    # only the master key (API_KEY) may upload them; True lets any gateway key upload too. With auth off
    # (no master key, no API keys) uploads are taken from loopback clients only.
    "COOKIE_UPLOAD_ALLOW_KEYS": False,
    # Most cookies, and most bytes of `name=value`, stored per cookie domain (an upload that would pass
    # either is refused whole with 400 cookie_limit_exceeded). Browsers keep about 180 per domain.
    "COOKIE_MAX_PER_DOMAIN": 180,
    "COOKIE_MAX_BYTES_PER_DOMAIN": 32 * 1024,
    # Conversation size (completions/conversations/): a turn may send at most MAX_SENT_MESSAGES
    # messages (413 too_many_messages beyond) and a conversation store at most MAX_STORED_MESSAGES
    # (400 conversation_full for a turn that would pass it). GET /v1/conversations/{id} pages its
    # messages: `limit` defaults to MESSAGES_PAGE_DEFAULT, at most MESSAGES_PAGE_MAX.
    "CONVERSATION_MAX_SENT_MESSAGES": 4096,
    "CONVERSATION_MAX_STORED_MESSAGES": 10_000,
    "CONVERSATION_MESSAGES_PAGE_DEFAULT": 1000,
    "CONVERSATION_MESSAGES_PAGE_MAX": 1000,
    # A 401/403 from an upstream marks the provider's credential broken (for AUTH_FAILURE_COOLDOWN) only
    # after this many within BREAKER_WINDOW, on catalogue-routed requests (completions/routing/health.py).
    "AUTH_FAILURE_THRESHOLD": 3,
    # Most upstream requests in flight to one provider, per event loop: one provider's slow answers
    # cannot take the whole pool (MAX_CONNECTIONS, twice as many), yet one provider alone can hold
    # 1,000 streams. A request that finds no free slot within the provider's timeout gets 503
    # provider_busy.
    "PROVIDER_MAX_CONNECTIONS": 1000,
    # Caps on what an upstream may send (decompressed), checked while reading: a JSON (or any
    # non-streamed) answer, one line of a stream, a whole stream. Beyond: 502 provider_response_too_large.
    "UPSTREAM_MAX_BODY_BYTES": 32 * 1024 * 1024,
    "UPSTREAM_MAX_LINE_BYTES": 1024 * 1024,
    "UPSTREAM_MAX_STREAM_BYTES": 256 * 1024 * 1024,
    # Local speech (espeak-ng) programs running at once, per event loop (0: one per CPU core); a request
    # waits at most LOCAL_SPEECH_QUEUE_TIMEOUT seconds for a slot, then gets 503 local_speech_busy.
    "LOCAL_SPEECH_MAX_PROCESSES": 0,
    "LOCAL_SPEECH_QUEUE_TIMEOUT": 10.0,
    # Model for image requests that name neither `model` nor `provider` (`--image-model`,
    # G4F_IMAGE_MODEL); the seeded catalogue serves "flux" through PollinationsAI without a key.
    "DEFAULT_IMAGE_MODEL": "flux",
    # Per-key limits (completions/limits/): where the counters live, "redis" (the default when REDIS_URL
    # is set) or "file" (LIMITS_FILE, default <data dir>/key-limits.bin, shared by this machine's
    # processes); a slot of a request in flight that no process gave back expires after INFLIGHT_TTL s.
    "LIMITS_STORE": "",
    "LIMITS_FILE": "",
    "LIMITS_INFLIGHT_TTL": 3600,
    # Usage and metrics (docs/usage-and-metrics.md). Raw usage rows older than USAGE_RETENTION_DAYS
    # (G4F_USAGE_RETENTION_DAYS) are deleted by `manage.py usage prune`; the hourly roll-ups stay.
    "USAGE_RETENTION_DAYS": float(os.environ.get("G4F_USAGE_RETENTION_DAYS") or 90),
    # GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (G4F_METRICS_TOKEN) when set; else the
    # master key; it is open only while auth is off.
    "METRICS_TOKEN": os.environ.get("G4F_METRICS_TOKEN", ""),
}


class GatewaySettings:
    """Attribute access to `settings.G4F` with defaults; unknown names raise AttributeError.

    A value read once is kept as an instance attribute, so later reads (ten per chat request) are
    plain attribute lookups; `reload()` (on `setting_changed`, or after `override()`) drops them."""

    def __init__(self) -> None:
        self._overrides: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown gateway setting: {name}")
        if name in self._overrides:
            value = self._overrides[name]
        else:
            value = getattr(settings, "G4F", {}).get(name, DEFAULTS[name])
        self.__dict__[name] = value
        return value

    def override(self, **values: Any) -> None:
        """Set values at start-up (command line flags); they win over settings and environment."""
        for name in values:
            if name not in DEFAULTS:
                raise AttributeError(f"Unknown gateway setting: {name}")
        self._overrides.update(values)
        self.reload()

    def reload(self) -> None:
        for name in DEFAULTS:
            self.__dict__.pop(name, None)


gateway_settings = GatewaySettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "G4F":
        gateway_settings.reload()


setting_changed.connect(_reload)
