"""ASGI entry point: endpoints that wait on an upstream go to Channels consumers, everything else
(catalogue endpoints, admin, GUI, media) to Django."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "g4fsite.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from g4fsite.routing import http_routes  # noqa: E402

application = ProtocolTypeRouter({"http": URLRouter(http_routes(django_application))})
