"""ASGI entry point: endpoints that wait on an upstream go to Channels consumers, everything else
(catalogue endpoints, admin, GUI, media) to Django."""

import os

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

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from completions.http.request_log import RequestLogMiddleware  # noqa: E402
from g4fsite.asgi_routes import exact_http_routes, http_routes  # noqa: E402
from g4fsite.conf import gateway_settings  # noqa: E402

routed_application = RequestLogMiddleware(ProtocolTypeRouter({"http": URLRouter(http_routes(django_application))}))
_exact_routes = exact_http_routes()


async def application(scope: dict, receive, send) -> None:
    """The ASGI application. `/v1/chat/completions` (the paths in `exact_http_routes`) goes straight
    to its consumer: every await of a request resumes each wrapper in between, so the three layers
    of routing and request logging (when it is off) cost CPU on the hottest path. Everything else,
    and every request while request logging is on, goes through `routed_application`."""
    if scope["type"] == "http" and not gateway_settings.DEBUG:
        consumer = _exact_routes.get(scope["path"])
        if consumer is not None:
            return await consumer({**scope, "url_route": {"args": (), "kwargs": {}}}, receive, send)
    if scope["type"] == "websocket":
        return await deny_websocket(receive, send)
    return await routed_application(scope, receive, send)


async def deny_websocket(receive, send) -> None:
    """No endpoint speaks WebSocket: close the handshake unaccepted (the server answers HTTP 403)."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})
