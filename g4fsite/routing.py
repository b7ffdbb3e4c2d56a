"""HTTP routes served by Channels consumers (async, streaming); the rest falls through to Django."""

from django.urls import re_path

from completions.consumers import ChatCompletionsConsumer


def http_routes(django_application):
    chat = ChatCompletionsConsumer.as_asgi()
    return [
        re_path(r"^v1/chat/completions/?$", chat),
        re_path(r"^api/(?P<provider>[^/]+)/chat/completions/?$", chat),
        re_path(r"", django_application),
    ]
