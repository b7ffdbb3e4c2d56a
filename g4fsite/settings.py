"""Django settings for the gateway.

Everything an operator may change comes from the environment, with embedded defaults so that a
fresh machine runs it with no configuration: SQLite, an in-memory channel layer and cache.
`DATABASE_URL` (postgres://...) and `REDIS_URL` (redis://...) switch to shared services when one
machine is not enough. The gateway's own knobs live in the `G4F` dict, read through
`g4fsite.conf.gateway_settings`.
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("G4F_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.replace(",", " ").split() if item.strip()]


def _secret_key() -> str:
    """Use DJANGO_SECRET_KEY, or a random key generated once and kept in the data dir."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", ["*"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "channels",
    "catalogue",
    "completions",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "g4fsite.urls"
ASGI_APPLICATION = "g4fsite.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": parts.port or "",
            "CONN_MAX_AGE": 60,
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("G4F_DB_PATH", str(DATA_DIR / "db.sqlite3")),
        # Several writers (admin, usage flusher, CLI) share the file: wait instead of failing, and take
        # the write lock when a transaction starts (a deferred one that later writes fails at once).
        # WAL with synchronous=NORMAL: no fsync per commit; still never corrupt, and a power cut loses
        # at most the last commits (SQLite's recommended setting for WAL).
        "OPTIONS": {
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        },
        "TEST": {"NAME": os.environ.get("G4F_TEST_DB_PATH", str(DATA_DIR / "test.sqlite3"))},
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "g4f"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("G4F_MEDIA_DIR", BASE_DIR / "media"))

CORS_ALLOWED_ORIGINS = _env_list("CORS_ALLOWED_ORIGINS", [])
CORS_ALLOW_ALL_ORIGINS = not CORS_ALLOWED_ORIGINS and _env_bool("CORS_ALLOW_ALL_ORIGINS", True)
CORS_ALLOW_HEADERS = ["authorization", "content-type", "g4f-api-key", "x-requested-with"]
CORS_EXPOSE_HEADERS = [
    "x-provider",
    "x-request-id",
    "x-attempts",
    "retry-after",
    "x-conversation-id",
    "x-conversation-provider-changed",
    "x-conversation-previous-provider",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["completions.auth.ApiKeyPermission"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "completions.http.drf_errors.drf_exception_handler",
}

# The gateway's own settings; see g4fsite/conf.py for every key and its default.
G4F = {
    "API_KEY": os.environ.get("G4F_API_KEY", ""),
    "PROXY": os.environ.get("G4F_PROXY", ""),
    "TIMEOUT": float(os.environ.get("G4F_TIMEOUT", "0") or 0) or None,
    "DEFAULT_PROVIDER": os.environ.get("G4F_PROVIDER", ""),
    "DEFAULT_MODEL": os.environ.get("G4F_MODEL", ""),
    "DEFAULT_IMAGE_MODEL": os.environ.get("G4F_IMAGE_MODEL") or "flux",
    "IGNORED_PROVIDERS": _env_list("G4F_IGNORED_PROVIDERS", []),
    "GUI": _env_bool("G4F_GUI"),
    "DEMO": _env_bool("G4F_DEMO"),
    # Request logging only: Django's own DEBUG (tracebacks to clients) stays off unless DJANGO_DEBUG.
    "DEBUG": _env_bool("G4F_DEBUG"),
    "ALLOW_REQUEST_PROXY": _env_bool("G4F_ALLOW_REQUEST_PROXY"),
    "PROXY_ALLOWLIST": _env_list("G4F_PROXY_ALLOWLIST", []),
    "CATALOGUE_STAMP": "cache" if REDIS_URL else "file",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # httpx2 logs every upstream request at INFO: a log line per request on the hot path.
        "httpx2": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
        "g4f": {"level": "DEBUG" if G4F["DEBUG"] else "INFO"},
    },
}
