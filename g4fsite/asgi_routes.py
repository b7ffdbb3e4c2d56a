"""HTTP routes served by Channels consumers (async, streaming); the rest falls through to Django."""

from django.urls import re_path

from completions.consumers import ChatCompletionsConsumer
from completions.cookies.upload import UploadCookiesConsumer
from completions.embeddings import EmbeddingsConsumer
from completions.inbound.anthropic.consumer import CountTokensConsumer, MessagesConsumer
from completions.inbound.responses.consumers import (
    ResponseInputItemsConsumer,
    ResponsesConsumer,
    StoredResponseConsumer,
)
from completions.media.consumers import (
    ImageGenerationsConsumer,
    SpeechConsumer,
    TranscriptionsConsumer,
)

_chat = ChatCompletionsConsumer.as_asgi()
_messages = MessagesConsumer.as_asgi()
_count_tokens = CountTokensConsumer.as_asgi()
_responses = ResponsesConsumer.as_asgi()


def exact_http_routes() -> dict:
    """Consumers for fixed paths (no URL arguments), looked up by the exact path in `g4fsite.asgi`
    before any pattern matching; they are in `http_routes` too."""
    return {
        "/v1/chat/completions": _chat,
        "/v1/chat/completions/": _chat,
        "/v1/messages": _messages,
        "/v1/messages/count_tokens": _count_tokens,
        "/v1/responses": _responses,
    }


def http_routes(django_application):
    chat = _chat
    return [
        re_path(r"^v1/chat/completions/?$", chat),
        re_path(r"^api/(?P<provider>[^/]+)/chat/completions/?$", chat),
        # G4F's conversation form; the consumer validates the id (400 naming `conversation_id`).
        re_path(r"^api/(?P<provider>[^/]+)/(?P<conversation_id>[^/]+)/chat/completions/?$", chat),
        # Anthropic's Messages API (completions/inbound/anthropic/).
        re_path(r"^v1/messages/?$", _messages),
        re_path(r"^v1/messages/count_tokens/?$", _count_tokens),
        # The Responses API (completions/inbound/responses/).
        *responses_routes(),
        # Images, audio and cookie upload (completions/media/consumers.py, completions/cookies/upload.py).
        *media_routes(),
        *embedding_routes(),
        re_path(r"", django_application),
    ]


def embedding_routes():
    embeddings = EmbeddingsConsumer.as_asgi()
    return [
        re_path(r"^v1/embeddings/?$", embeddings),
        re_path(r"^api/(?P<provider>[^/]+)/embeddings/?$", embeddings),
    ]


def media_routes():
    images = ImageGenerationsConsumer.as_asgi()
    transcriptions = TranscriptionsConsumer.as_asgi()
    speech = SpeechConsumer.as_asgi()
    return [
        re_path(r"^v1/images/generations/?$", images),
        re_path(r"^api/(?P<provider>[^/]+)/images/generations/?$", images),
        re_path(r"^v1/audio/transcriptions/?$", transcriptions),
        re_path(r"^api/(?P<provider>[^/]+)/audio/transcriptions/?$", transcriptions),
        re_path(r"^v1/audio/speech/?$", speech),
        re_path(r"^api/(?P<provider>[^/]+)/audio/speech/?$", speech),
        re_path(r"^v1/upload_cookies/?$", UploadCookiesConsumer.as_asgi()),
    ]


def responses_routes():
    return [
        re_path(r"^v1/responses/?$", _responses),
        re_path(r"^api/(?P<provider>[^/]+)/responses/?$", _responses),
        re_path(r"^v1/responses/(?P<response_id>[^/]+)/input_items/?$", ResponseInputItemsConsumer.as_asgi()),
        re_path(r"^v1/responses/(?P<response_id>[^/]+)/?$", StoredResponseConsumer.as_asgi()),
    ]
