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

from g4fsite.media_settings import media_storage, public_base_url

BASE_DIR = Path(__file__).resolve().parent.parent
# The data directory holds the database, the generated keys and the media: readable by its owner only.
DATA_DIR = Path(os.environ.get("G4F_DATA_DIR", BASE_DIR / "var"))
if not DATA_DIR.exists():
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


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

        _private_file_write(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


def _private_file_write(path: Path, text: str) -> None:
    """Create `path` readable and writable by its owner only (0600) from the first byte on."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def _sqlite_file_private(path: str) -> str:
    """Create the SQLite file 0600 before SQLite does (it would follow the umask, often 0644), and
    take group and world access away from one an older version created; its -wal and -shm files
    get the same mode from SQLite."""
    if path == ":memory:" or path.startswith("file:"):
        return path
    try:
        if not os.path.exists(path):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        elif os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        pass  # not ours to change (a shared file set up by the operator): SQLite reports real problems
    return path


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DJANGO_DEBUG")
# Checked for every request, the Channels endpoints included (g4fsite/asgi.py): a page that rebinds its
# own domain name to this machine's address (DNS rebinding) sends its own name as Host and is refused.
# `g4f api --host ADDRESS` adds that address; a public name must be listed here.
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

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
    "drf_spectacular",  # GET /openapi.json (completions/openapi.py)
    "drf_spectacular_sidecar",  # Swagger UI's files for GET /docs, served from here: no CDN
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
        "NAME": _sqlite_file_private(os.environ.get("G4F_DB_PATH", str(DATA_DIR / "db.sqlite3"))),
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
# Short timeouts: a stopped or hung Redis costs a request at most this long, not the client's 5 s
# (the Django cache here, the limit and breaker counters in `completions.redis_link`).
REDIS_TIMEOUT = float(os.environ.get("G4F_REDIS_TIMEOUT", "0.5"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
        }
    }
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
MEDIA_URL = "/media/"
# Generated media go through the "media" storage (completions/media/store.py): files under MEDIA_ROOT
# by default, or one S3-compatible bucket shared by every instance (G4F_MEDIA_STORAGE=s3, G4F_S3_*).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "media": media_storage(os.environ),
}

# Web origins allowed to call the gateway from a browser: G4F["CORS_ORIGINS"] decides for every endpoint
# (completions/http/cors.py), so django-cors-headers' own lists stay empty. None by default.
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_ALL_ORIGINS = False
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
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# GET /openapi.json and GET /docs (completions/openapi.py).
SPECTACULAR_SETTINGS = {
    "TITLE": "G4F gateway",
    "DESCRIPTION": "An OpenAI-compatible AI gateway following the G4F REST API.",
    "VERSION": "1.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
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
    # `*` for any origin; CORS_ALLOWED_ORIGINS is the older name.
    "CORS_ORIGINS": _env_list("G4F_CORS_ORIGINS", _env_list("CORS_ALLOWED_ORIGINS", [])),
    "PUBLIC_BASE_URL": public_base_url(os.environ),
}

# Behind a proxy that terminates TLS (docs/security.md). G4F_CSRF_TRUSTED_ORIGINS lists the public
# origins (https://gw.example.com) the admin's forms are posted from; G4F_BEHIND_TLS_PROXY=1 trusts the
# proxy's X-Forwarded-Proto, sends cookies over https only, redirects plain http and turns on HSTS
# (G4F_HSTS_SECONDS, default a year; 0 turns it off). Only set it when every request comes through the
# proxy: a client reaching the server directly could claim https.
CSRF_TRUSTED_ORIGINS = _env_list("G4F_CSRF_TRUSTED_ORIGINS", [])
if _env_bool("G4F_BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("G4F_HSTS_SECONDS", "31536000") or 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("G4F_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("G4F_HSTS_PRELOAD")
# Submitting a domain to the browsers' HSTS preload lists is the domain owner's decision, not a default.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Upstream credentials are encrypted at rest (catalogue/credentials.py) with G4F_SECRETS_KEY: one or
# more Fernet keys, the first encrypts, all decrypt (rotation: `manage.py secretskey rotate`). Unset,
# a key is generated once into DATA_DIR/secrets_key (0600).
SECRETS_KEYS = _env_list("G4F_SECRETS_KEY", [])
SECRETS_KEY_FILE = DATA_DIR / "secrets_key"

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
        # boto3 (the S3 media storage) logs each request's signed headers at DEBUG.
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "s3transfer": {"level": "WARNING"},
        "g4f": {"level": "DEBUG" if G4F["DEBUG"] else "INFO"},
    },
}
