"""Start the gateway from Python, as in the G4F documentation:

    from g4fsite.api import AppConfig, run_api

    AppConfig.set_config(g4f_api_key="secret", model="gpt-4o-mini", ignored_providers=["Groq"], gui=True)
    run_api(host="0.0.0.0", port=1337, debug=True)

`g4f api` and `manage.py api` do the same from their flags. The server is uvicorn: it hands the
body to the application as it arrives, so a request refused (401, 413) is never read whole; daphne,
which `manage.py runserver` uses, reads every body into memory first. Precedence is flag (or `set_config`)
> environment (`G4F_*`) > default: a value left unset keeps whatever the environment says. Values
are applied twice before serving: as `gateway_settings` overrides for this process, and exported as
their `G4F_*` environment variables so that uvicorn's worker processes (`workers=N`) read the same.
"""

import atexit
import glob
import ipaddress
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# AppConfig field -> (environment variable, gateway setting).
FIELDS: dict[str, tuple[str, str]] = {
    "g4f_api_key": ("G4F_API_KEY", "API_KEY"),
    "provider": ("G4F_PROVIDER", "DEFAULT_PROVIDER"),
    "model": ("G4F_MODEL", "DEFAULT_MODEL"),
    "image_model": ("G4F_IMAGE_MODEL", "DEFAULT_IMAGE_MODEL"),
    "proxy": ("G4F_PROXY", "PROXY"),
    "timeout": ("G4F_TIMEOUT", "TIMEOUT"),
    "ignored_providers": ("G4F_IGNORED_PROVIDERS", "IGNORED_PROVIDERS"),
    "gui": ("G4F_GUI", "GUI"),
    "demo": ("G4F_DEMO", "DEMO"),
    "debug": ("G4F_DEBUG", "DEBUG"),
    "cors_origins": ("G4F_CORS_ORIGINS", "CORS_ORIGINS"),
    "graceful_timeout": ("G4F_GRACEFUL_TIMEOUT", "GRACEFUL_TIMEOUT"),
}

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1337
APPLICATION = "g4fsite.asgi:application"


class AppConfig:
    """Start-up configuration; None means "not set here", so the environment or default applies."""

    g4f_api_key: str | None = None
    provider: str | None = None
    model: str | None = None
    image_model: str | None = None
    proxy: str | None = None
    timeout: float | None = None
    ignored_providers: list[str] | None = None
    gui: bool | None = None
    demo: bool | None = None
    debug: bool | None = None
    cors_origins: list[str] | None = None
    graceful_timeout: float | None = None

    @classmethod
    def set_config(cls, **data: Any) -> None:
        """Set any of the fields above; an unknown name raises TypeError."""
        for name, value in data.items():
            if name not in FIELDS:
                raise TypeError(f"AppConfig has no setting '{name}' (known: {', '.join(FIELDS)})")
            setattr(cls, name, value)

    @classmethod
    def overrides(cls) -> dict[str, Any]:
        """The gateway settings this configuration sets, by `G4F` setting name."""
        values = {}
        for name, (_, setting) in FIELDS.items():
            value = getattr(cls, name)
            if value is None:
                continue
            if name == "timeout":
                value = float(value) or None
            elif name == "graceful_timeout":
                value = float(value)
            elif name in ("ignored_providers", "cors_origins"):
                value = [value] if isinstance(value, str) else list(value)
            elif name in ("gui", "demo", "debug"):
                value = bool(value)
            values[setting] = value
        return values

    @classmethod
    def environment(cls) -> dict[str, str]:
        """The same values as `G4F_*` environment variables, as g4fsite/settings.py reads them."""
        env = {}
        overrides = cls.overrides()
        for variable, setting in FIELDS.values():
            if setting not in overrides:
                continue
            value = overrides[setting]
            if isinstance(value, bool):
                env[variable] = "1" if value else "0"
            elif isinstance(value, list):
                env[variable] = " ".join(value)
            else:
                env[variable] = "" if value is None else str(value)
        return env


def config_apply() -> None:
    """Export the configuration to the environment and override this process's gateway settings."""
    os.environ.update(AppConfig.environment())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "g4fsite.settings")
    import django

    django.setup()
    from g4fsite.conf import gateway_settings

    gateway_settings.override(**AppConfig.overrides())


MIGRATION_LOCK_ID = 0x6734_6D69_6772  # PostgreSQL advisory lock key: "g4migr"


@contextmanager
def migration_lock() -> Iterator[None]:
    """Held by one starting instance at a time while it migrates and seeds, so instances started at
    once on an empty database do not migrate twice: a PostgreSQL session advisory lock, or for SQLite
    an exclusive `flock` on `<database file>.migrate.lock`. The others wait, then find nothing to do."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_ID])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_ID])
        return
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite" or name == ":memory:" or name.startswith("file:"):
        yield
        return
    import fcntl

    descriptor = os.open(f"{name}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when the descriptor closes, even on a crash
        yield
    finally:
        os.close(descriptor)


def database_prepare(say: Callable[[str], None]) -> None:
    """Apply pending migrations; seed the default catalogue when it is empty (under
    `migration_lock`). Says what it did."""
    from django.core.management import call_command
    from django.db import connection, connections
    from django.db.migrations.executor import MigrationExecutor

    from catalogue import provider_report, services
    from catalogue.models import Provider

    with migration_lock():
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            say("Applying database migrations...")
            call_command("migrate", interactive=False, verbosity=0)
        if not Provider.objects.exists():
            result = services.catalogue_seed()
            say(f"The catalogue was empty: seeded the default catalogue ({result.summary()}).")
    say(provider_report.providers_usable_report())
    connections.close_all()


def _say(message: str) -> None:
    print(message, file=sys.stdout, flush=True)


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (a name other than localhost is not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def network_exposure_refusal(host: str, no_auth_on_network: bool | None) -> str | None:
    """Why serving on `host` must not start: a non-loopback address with auth off (no master key, no
    API key), unless the operator said so (`--no-auth-on-network`, G4F_NO_AUTH_ON_NETWORK=1)."""
    from catalogue.selectors import catalogue_snapshot
    from g4fsite.conf import gateway_settings

    if no_auth_on_network is None:
        no_auth_on_network = os.environ.get("G4F_NO_AUTH_ON_NETWORK", "").strip().lower() in ("1", "true", "yes", "on")
    if is_loopback(host) or no_auth_on_network:
        return None
    if gateway_settings.API_KEY or catalogue_snapshot().has_api_keys:
        return None
    return (
        f"Refusing to serve on {host} without an API key: anyone who can reach this address could use "
        "the gateway and its upstream credentials. Set a key (--g4f-api-key KEY or G4F_API_KEY, or create "
        "one with `manage.py apikey create NAME`), serve on 127.0.0.1, or pass --no-auth-on-network "
        "(G4F_NO_AUTH_ON_NETWORK=1) to serve without authentication anyway."
    )


def allowed_hosts_include(host: str) -> None:
    """Add the address the server binds to ALLOWED_HOSTS, unless the operator set ALLOWED_HOSTS;
    exported so that uvicorn's worker processes see the same."""
    from django.conf import settings

    if "ALLOWED_HOSTS" in os.environ or host in ("0.0.0.0", "::") or host in settings.ALLOWED_HOSTS:
        return
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, f"[{host}]" if ":" in host else host]
    os.environ["ALLOWED_HOSTS"] = " ".join(settings.ALLOWED_HOSTS)


def metrics_multiprocess_prepare(workers: int | None) -> str:
    """With several workers, point prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR,
    inherited by the workers) at an empty directory: the operator's, emptied, or a private one removed
    at exit. Values left by an earlier run would be counted again. Returns the directory, or ""."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    elif workers and workers > 1:
        path = tempfile.mkdtemp(prefix="g4f-metrics-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def serving_prepare(hosts: list[str], workers: int | None, no_auth_on_network: bool | None = None) -> None:
    """What every way of serving does before it listens on `hosts` (`g4f api`, and gunicorn through
    `g4fsite/gunicorn_conf.py`): apply `AppConfig`, migrate and seed, refuse (exit status 2) a
    non-loopback address with authentication off unless `no_auth_on_network`, add the addresses to
    ALLOWED_HOSTS, and prepare the metrics directory for several workers."""
    config_apply()
    database_prepare(_say)
    from django.db import connections

    refusals = [network_exposure_refusal(host, no_auth_on_network) for host in hosts]
    connections.close_all()
    for refusal in filter(None, refusals):
        print(refusal, file=sys.stderr, flush=True)
        raise SystemExit(2)
    for host in hosts:
        allowed_hosts_include(host.strip("[]"))
    metrics_multiprocess_prepare(workers)


def run_api(
    host: str | None = None,
    port: int | None = None,
    debug: bool | None = None,
    workers: int | None = None,
    bind: str | None = None,
    no_auth_on_network: bool | None = None,
    **_ignored: Any,
) -> None:
    """Apply `AppConfig`, prepare the database and serve with uvicorn until stopped (`workers`
    processes, one by default). `bind="host:port"` is accepted as in G4F. Refuses to start (exit
    status 2) on a non-loopback address with authentication off, unless `no_auth_on_network`. On
    SIGTERM it stops accepting, lets requests in flight finish within `GRACEFUL_TIMEOUT` seconds,
    writes the queued usage rows and returns (g4fsite/serving.py)."""
    if bind:
        host, _, bind_port = bind.rpartition(":")
        port = int(bind_port)
    host = host or DEFAULT_HOST
    port = int(port or DEFAULT_PORT)
    if debug is not None:
        AppConfig.set_config(debug=debug)
    serving_prepare([host], workers, no_auth_on_network)

    from django.conf import settings

    from g4fsite.conf import gateway_settings

    shown = f"[{host}]" if ":" in host else host
    base = f"http://{'localhost' if host in ('0.0.0.0', '::') else shown}:{port}"
    gui = f"; chat GUI: {base}/chat/" if gateway_settings.GUI else ""
    server = f"uvicorn, {workers} workers" if workers else "uvicorn"
    _say(f"Serving on {base} ({server}); OpenAI base URL: {base}/v1{gui}")
    if host in ("0.0.0.0", "::"):
        _say(f"Clients must reach it by a name in ALLOWED_HOSTS ({' '.join(settings.ALLOWED_HOSTS)}).")
    from uvicorn import Config

    from g4fsite.http_protocol import HTTP_PROTOCOL
    from g4fsite.serving import serve

    serve(
        Config(
            APPLICATION,
            host=host,
            port=port,
            workers=workers,
            lifespan="on",  # g4fsite.asgi.lifespan: queued usage rows are written at shutdown
            http=HTTP_PROTOCOL,  # uvicorn's httptools protocol, one write per turn of the loop
            timeout_graceful_shutdown=gateway_settings.GRACEFUL_TIMEOUT,
            access_log=False,
            log_config=None,
            # Behind a TLS proxy (G4F_BEHIND_TLS_PROXY) every request comes through it, wherever it runs:
            # its X-Forwarded-Proto then makes the Channels endpoints' links https too (uvicorn trusts only
            # 127.0.0.1 by default).
            forwarded_allow_ips="*" if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) else None,
        )
    )
