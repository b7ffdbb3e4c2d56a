"""ASGI entry point: endpoints that wait on an upstream go to Channels consumers, everything else
(catalogue endpoints, admin, GUI, media) to Django. Every request first passes `request_refusal`
(Host and Origin), and repeated slashes in its path count as one."""

import os
import re

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "g4fsite.settings")

from django.core.asgi import get_asgi_application

django_asgi = get_asgi_application()

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import SuspiciousOperation  # noqa: E402
from django.http import Http404  # noqa: E402


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's static files handler, answering 404 (the OpenAI shape, from `handler404`) for a path
    that leaves the static directories (`/static/gui/%2e%2e/...`) or cannot be a file name at all,
    where Django raises SuspiciousFileOperation or ValueError and answers 500."""

    def serve(self, request):
        try:
            return super().serve(request)
        except (SuspiciousOperation, ValueError):
            raise Http404("No such static file.") from None


# Static files (the GUI's scripts and styles) are served from the apps' static directories with
# DEBUG off too: no collectstatic step, content types from `mimetypes` (.js -> text/javascript).
django_application = StaticFilesHandler(django_asgi)

from asgiref.sync import sync_to_async  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.signals import setting_changed  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402

from catalogue.cache import catalogue_change_listener_start  # noqa: E402
from completions import errors  # noqa: E402
from completions.http.cors import origin_allowed  # noqa: E402
from completions.http.request_log import RequestLogMiddleware  # noqa: E402
from completions.usage import usage_recorder  # noqa: E402
from g4fsite.asgi_routes import exact_http_routes, http_routes  # noqa: E402
from g4fsite.conf import gateway_settings  # noqa: E402
from g4fsite.garbage_collection import tune_for_serving  # noqa: E402

routed_application = RequestLogMiddleware(ProtocolTypeRouter({"http": URLRouter(http_routes(django_application))}))
_exact_routes = exact_http_routes()

# Host header value -> allowed; a dict lookup per request once a host has been seen. Bounded: a
# client sending endless made-up hosts only empties it.
_host_verdicts: dict[bytes, bool] = {}
_SLASHES = re.compile(r"//+")
_RAW_SLASHES = re.compile(rb"//+")


def host_allowed(host: bytes) -> bool:
    """Whether a Host header names this server, by Django's `ALLOWED_HOSTS` rules (port ignored)."""
    verdict = _host_verdicts.get(host)
    if verdict is None:
        allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        domain, _ = split_domain_port(host.decode("latin-1"))
        verdict = bool(domain) and validate_host(domain, allowed)
        if len(_host_verdicts) >= 1024:
            _host_verdicts.clear()
        _host_verdicts[host] = verdict
    return verdict


def _origin_trusted(origin: str, host: bytes | None) -> bool:
    """Same origin as the Host the browser asked for, or an origin the operator allowed (CORS, or
    CSRF_TRUSTED_ORIGINS for a proxy that rewrites Host)."""
    if host is not None and origin.partition("://")[2] == host.decode("latin-1"):
        return True
    return origin_allowed(origin) or origin in settings.CSRF_TRUSTED_ORIGINS


def request_refusal(headers) -> errors.GatewayError | None:
    """Why a request is refused before any endpoint sees it: a Host outside `ALLOWED_HOSTS` (DNS
    rebinding), or an `Origin` that is neither this server nor allowed (a page on another site)."""
    host = origin = None
    for name, value in headers:
        if name == b"host":
            host = value
        elif name == b"origin":
            origin = value
    if host is not None and not host_allowed(host):
        shown = host.decode("latin-1")[:100].encode("ascii", "replace").decode()
        return errors.HostNotAllowed(f"Host '{shown}' is not served here; the operator can add it to ALLOWED_HOSTS.")
    if origin is not None and not _origin_trusted(origin.decode("latin-1"), host):
        return errors.CrossOriginRefused()
    return None


async def _refuse(scope: dict, receive, send, refusal: errors.GatewayError) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": refusal.status_code, "headers": errors.error_headers(refusal)})
    await send({"type": "http.response.body", "body": errors.error_json(refusal)})


def _single_slashes(scope: dict) -> dict:
    """The scope with `//` in its path as `/` (a client whose base URL ends in `/` asks for `/v1//models`)."""
    scope = {**scope, "path": _SLASHES.sub("/", scope["path"])}
    if scope.get("raw_path"):
        scope["raw_path"] = _RAW_SLASHES.sub(b"/", scope["raw_path"])
    return scope


async def lifespan(receive, send) -> None:
    """ASGI lifespan: at shutdown (after the last request ended) write the queued usage rows. uvicorn
    ends a process it stopped by SIGTERM by re-raising the signal, so `atexit` never runs there."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await sync_to_async(usage_recorder.flush_at_exit, thread_sensitive=False)()
            await send({"type": "lifespan.shutdown.complete"})
            return


catalogue_change_listener_start()  # with REDIS_URL: changes made on other machines arrive at once


async def application(scope: dict, receive, send) -> None:
    """The ASGI application. `/v1/chat/completions` (the paths in `exact_http_routes`) goes straight
    to its consumer: every await of a request resumes each wrapper in between, so the three layers
    of routing and request logging (when it is off) cost CPU on the hottest path. Everything else,
    and every request while request logging is on, goes through `routed_application`."""
    kind = scope["type"]
    if kind == "lifespan":
        return await lifespan(receive, send)
    if kind == "http" or kind == "websocket":
        refusal = request_refusal(scope["headers"])
        if refusal is not None:
            return await _refuse(scope, receive, send, refusal)
        if "//" in scope["path"]:
            scope = _single_slashes(scope)
        if kind == "http" and not gateway_settings.DEBUG:
            consumer = _exact_routes.get(scope["path"])
            if consumer is not None:
                return await consumer({**scope, "url_route": {"args": (), "kwargs": {}}}, receive, send)
    if kind == "websocket":
        return await deny_websocket(receive, send)
    return await routed_application(scope, receive, send)


async def deny_websocket(receive, send) -> None:
    """No endpoint speaks WebSocket: close the handshake unaccepted (the server answers HTTP 403)."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


def _forget_hosts(*, setting: str, **kwargs) -> None:
    if setting in ("ALLOWED_HOSTS", "DEBUG"):
        _host_verdicts.clear()


setting_changed.connect(_forget_hosts)
tune_for_serving()  # last: everything loaded so far is frozen out of the collector's walks
