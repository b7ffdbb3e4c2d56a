"""ASGI entry point: endpoints that wait on an upstream go to Channels consumers, everything else
(catalogue endpoints, admin, GUI, media) to Django."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "g4fsite.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi = get_asgi_application()

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

# Static files (the GUI's scripts and styles) are served from the apps' static directories with
# DEBUG off too: no collectstatic step, content types from `mimetypes` (.js -> text/javascript).
django_application = ASGIStaticFilesHandler(django_asgi)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from completions.request_log import RequestLogMiddleware  # noqa: E402
from g4fsite.routing import http_routes  # noqa: E402

application = RequestLogMiddleware(ProtocolTypeRouter({"http": URLRouter(http_routes(django_application))}))
