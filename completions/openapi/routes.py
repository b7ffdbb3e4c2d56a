"""Documentation-only views for the routes drf-spectacular cannot see: the Channels consumers of
`g4fsite.asgi_routes` and the plain Django views of `g4fsite.urls`. They are never served (the
consumers and views answer those paths); `urlpatterns` exists for the schema generator only.

Every consumer route of `asgi_routes` is listed from there, so a new route is documented or fails
here (`KeyError` on its consumer class).
"""

import re

from django.urls import re_path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from completions.consumers import ChatCompletionsConsumer
from completions.cookies.upload import UploadCookiesConsumer
from completions.embeddings import EmbeddingsConsumer
from completions.inbound.anthropic.consumer import CountTokensConsumer, MessagesConsumer
from completions.inbound.responses.consumers import (
    ResponseInputItemsConsumer,
    ResponsesConsumer,
    StoredResponseConsumer,
)
from completions.media.consumers import ImageGenerationsConsumer, SpeechConsumer, TranscriptionsConsumer
from completions.openapi.schemas import ERRORS, OBJECT, ROUTED_ERRORS, error
from completions.serializers import ChatCompletionRequestSerializer
from g4fsite.asgi_routes import http_routes


class DocumentationOnly(APIView):
    """Describes a route something else serves; never routed."""

    permission_classes = ()


def _multipart(properties: dict, required: list[str]) -> dict:
    return {"multipart/form-data": {"type": "object", "properties": properties, "required": required}}


class ChatCompletionsDoc(DocumentationOnly):
    @extend_schema(
        summary="Chat completion, streamed as Server-Sent Events with `stream: true`",
        request=ChatCompletionRequestSerializer,
        responses={
            (200, "application/json"): OpenApiResponse(OBJECT, description="A `chat.completion` plus `provider`."),
            (200, "text/event-stream"): OpenApiResponse(
                {"type": "string"}, description="`chat.completion.chunk` events, then `data: [DONE]`."
            ),
            **ROUTED_ERRORS,
        },
        tags=["chat"],
    )
    def post(self, request, **kwargs): ...


ANTHROPIC_ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}


def anthropic_error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ANTHROPIC_ERROR, description=description)


ANTHROPIC_ERRORS = {
    400: anthropic_error("`invalid_request_error`: bad JSON or a bad field."),
    401: anthropic_error("`authentication_error`: send `x-api-key` or `Authorization: Bearer`."),
    404: anthropic_error("`not_found_error`: no such model."),
    429: anthropic_error("`rate_limit_error`; `Retry-After` says when to retry."),
    502: anthropic_error("`api_error`: every provider tried failed."),
    503: anthropic_error("`overloaded_error`: no provider may serve the request now."),
}
MESSAGES_REQUEST = {
    "application/json": {
        "type": "object",
        "required": ["model", "max_tokens", "messages"],
        "additionalProperties": True,
        "properties": {
            "model": {"type": "string"},
            "max_tokens": {"type": "integer", "minimum": 1},
            "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": OBJECT}]},
            "messages": {"type": "array", "items": OBJECT},
            "tools": {"type": "array", "items": OBJECT},
            "tool_choice": OBJECT,
            "stop_sequences": {"type": "array", "items": {"type": "string"}},
            "temperature": {"type": "number"},
            "top_p": {"type": "number"},
            "top_k": {"type": "integer"},
            "metadata": OBJECT,
            "thinking": OBJECT,
            "stream": {"type": "boolean"},
        },
    }
}


class MessagesDoc(DocumentationOnly):
    @extend_schema(
        summary="Anthropic Messages API (auth by `x-api-key` or Bearer), streamed with `stream: true`",
        description="An `anthropic` provider gets the body as sent (model and credential swapped, "
        "`anthropic-version` and `anthropic-beta` passed on); other providers get it translated.",
        request=MESSAGES_REQUEST,
        responses={
            (200, "application/json"): OpenApiResponse(OBJECT, description="A Messages `message`."),
            (200, "text/event-stream"): OpenApiResponse(
                {"type": "string"},
                description="message_start, content_block_start, ping, content_block_delta, content_block_stop, "
                "message_delta, message_stop; `event: error` if the stream breaks off.",
            ),
            **ANTHROPIC_ERRORS,
        },
        tags=["messages"],
    )
    def post(self, request, **kwargs): ...


class CountTokensDoc(DocumentationOnly):
    @extend_schema(
        summary="Count a Messages request's input tokens",
        description="The upstream's count from an `anthropic` provider, an estimate for any other.",
        request=MESSAGES_REQUEST,
        responses={
            200: OpenApiResponse(
                {"type": "object", "required": ["input_tokens"], "properties": {"input_tokens": {"type": "integer"}}},
                description="`{input_tokens}`.",
            ),
            **ANTHROPIC_ERRORS,
        },
        tags=["messages"],
    )
    def post(self, request, **kwargs): ...


class ImageGenerationsDoc(DocumentationOnly):
    @extend_schema(
        summary="Generate images",
        request={
            "application/json": {
                "type": "object",
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string"},
                    "model": {"type": "string"},
                    "n": {"type": "integer", "minimum": 1, "maximum": 4},
                    "size": {"type": "string", "description": "`auto` or `WIDTHxHEIGHT`, each side 256 to 4096."},
                    "response_format": {"enum": ["url", "b64_json"]},
                    "provider": {"type": "string"},
                },
            }
        },
        responses={200: OpenApiResponse(OBJECT, description="`{created, data: [{url | b64_json}]}`."), **ROUTED_ERRORS},
        tags=["images"],
    )
    def post(self, request, **kwargs): ...


class TranscriptionsDoc(DocumentationOnly):
    @extend_schema(
        summary="Transcribe audio",
        request=_multipart(
            {
                "file": {"type": "string", "contentMediaType": "application/octet-stream"},
                "model": {"type": "string"},
                "language": {"type": "string"},
                "prompt": {"type": "string"},
                "temperature": {"type": "number"},
                "response_format": {"enum": ["json", "text", "srt", "vtt", "verbose_json"]},
            },
            ["file", "model"],
        ),
        responses={
            (200, "application/json"): OpenApiResponse(OBJECT, description="`{text}` (or `verbose_json`)."),
            (200, "text/plain"): OpenApiResponse({"type": "string"}, description="`text`, `srt` or `vtt`."),
            413: error("The file is larger than `MAX_UPLOAD_BYTES`."),
            **ROUTED_ERRORS,
        },
        tags=["audio"],
    )
    def post(self, request, **kwargs): ...


class SpeechDoc(DocumentationOnly):
    @extend_schema(
        summary="Speak text",
        request={
            "application/json": {
                "type": "object",
                "required": ["model", "input"],
                "properties": {
                    "model": {"type": "string"},
                    "input": {"type": "string", "maxLength": 4096},
                    "voice": {"type": "string"},
                    "response_format": {"enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"]},
                    "speed": {"type": "number", "minimum": 0.25, "maximum": 4},
                },
            }
        },
        responses={(200, "application/octet-stream"): OpenApiResponse(description="The audio."), **ROUTED_ERRORS},
        tags=["audio"],
    )
    def post(self, request, **kwargs): ...


class EmbeddingsDoc(DocumentationOnly):
    @extend_schema(
        summary="Embed text (or token arrays) as vectors",
        request={
            "application/json": {
                "type": "object",
                "required": ["input"],
                "properties": {
                    "input": {
                        "oneOf": [
                            {"type": "string", "minLength": 1},
                            {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2048},
                            {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2048},
                            {
                                "type": "array",
                                "items": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
                                "minItems": 1,
                                "maxItems": 2048,
                            },
                        ]
                    },
                    "model": {"type": "string"},
                    "encoding_format": {"enum": ["float", "base64"], "default": "float"},
                    "dimensions": {"type": "integer", "minimum": 1},
                    "user": {"type": "string"},
                    "provider": {"type": "string"},
                },
            }
        },
        responses={
            200: OpenApiResponse(OBJECT, description="A `CreateEmbeddingResponse` (`object: list`) plus `provider`."),
            **ROUTED_ERRORS,
        },
        tags=["embeddings"],
    )
    def post(self, request, **kwargs): ...


class UploadCookiesDoc(DocumentationOnly):
    @extend_schema(
        summary="Upload cookies (JSON cookie lists, Netscape cookies.txt, HAR)",
        request=_multipart({"files": {"type": "array", "items": {"type": "string"}, "maxItems": 10}}, ["files"]),
        responses={
            200: OpenApiResponse(OBJECT, description="The domains and counts stored, never values."),
            400: error("A malformed file; nothing is stored."),
            413: error("A file larger than `COOKIE_MAX_BYTES`."),
            **ERRORS,
        },
        tags=["cookies"],
    )
    def post(self, request, **kwargs): ...


class ResponsesDoc(DocumentationOnly):
    @extend_schema(
        summary="Create a response (the OpenAI Responses API), streamed as Server-Sent Events with `stream: true`",
        request={
            "application/json": {
                "type": "object",
                "properties": {
                    "model": {"type": "string"},
                    "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
                    "instructions": {"type": "string"},
                    "tools": {"type": "array", "items": {"type": "object"}},
                    "tool_choice": {},
                    "text": {"type": "object"},
                    "reasoning": {"type": "object"},
                    "max_output_tokens": {"type": "integer", "minimum": 1},
                    "temperature": {"type": "number"},
                    "top_p": {"type": "number"},
                    "store": {"type": "boolean", "default": True},
                    "previous_response_id": {"type": "string"},
                    "stream": {"type": "boolean"},
                    "provider": {"type": "string"},
                },
                "additionalProperties": True,
            }
        },
        responses={
            (200, "application/json"): OpenApiResponse(OBJECT, description="A `response` plus `provider`."),
            (200, "text/event-stream"): OpenApiResponse(
                {"type": "string"},
                description="`response.created` ... `response.completed`, or `response.failed` after a failure.",
            ),
            **ROUTED_ERRORS,
        },
        tags=["responses"],
    )
    def post(self, request, **kwargs): ...


class StoredResponseDoc(DocumentationOnly):
    @extend_schema(
        summary="A stored response (the caller's own)",
        responses={200: OBJECT, 404: error("No stored response of yours has this id."), **ERRORS},
        tags=["responses"],
    )
    def get(self, request, **kwargs): ...

    @extend_schema(
        summary="Delete a stored response",
        responses={200: OBJECT, 404: error("No stored response of yours has this id."), **ERRORS},
        tags=["responses"],
    )
    def delete(self, request, **kwargs): ...


class ResponseInputItemsDoc(DocumentationOnly):
    @extend_schema(
        summary="A stored response's input items (`limit`, `order`, `after`)",
        responses={200: OBJECT, 404: error("No stored response of yours has this id."), **ERRORS},
        tags=["responses"],
    )
    def get(self, request, **kwargs): ...


class IndexDoc(DocumentationOnly):
    @extend_schema(summary="Where the API, admin and docs are", responses={200: OBJECT}, tags=["meta"])
    def get(self, request, **kwargs): ...


class ChatPageDoc(DocumentationOnly):
    @extend_schema(
        summary="The chat GUI (`g4f api --gui`)",
        responses={(200, "text/html"): OpenApiResponse(description="The page."), 404: error("The GUI is off.")},
        tags=["meta"],
    )
    def get(self, request, **kwargs): ...


class MediaDoc(DocumentationOnly):
    @extend_schema(
        summary="An image the gateway stored",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The file, with caching headers."),
            404: error("No file the gateway gave out by that name."),
        },
        tags=["media"],
    )
    def get(self, request, **kwargs): ...


DOCUMENTED_CONSUMERS = {
    ChatCompletionsConsumer: ChatCompletionsDoc,
    MessagesConsumer: MessagesDoc,
    CountTokensConsumer: CountTokensDoc,
    ImageGenerationsConsumer: ImageGenerationsDoc,
    TranscriptionsConsumer: TranscriptionsDoc,
    SpeechConsumer: SpeechDoc,
    EmbeddingsConsumer: EmbeddingsDoc,
    UploadCookiesConsumer: UploadCookiesDoc,
    ResponsesConsumer: ResponsesDoc,
    StoredResponseConsumer: StoredResponseDoc,
    ResponseInputItemsConsumer: ResponseInputItemsDoc,
}


def _documented(pattern: str) -> str:
    """A route's regex as the document names it: the optional trailing slash left out."""
    return re.sub(r"/\?\$$", "$", pattern)


def consumer_patterns() -> list:
    """One documentation pattern per consumer route of `g4fsite.asgi_routes`."""
    patterns = []
    for route in http_routes(lambda scope, receive, send: None):
        consumer = getattr(route.callback, "consumer_class", None)
        if consumer is not None:
            view = DOCUMENTED_CONSUMERS[consumer].as_view()
            patterns.append(re_path(_documented(route.pattern.regex.pattern), view))
    return patterns


urlpatterns = [
    *consumer_patterns(),
    re_path(r"^$", IndexDoc.as_view()),
    re_path(r"^chat/$", ChatPageDoc.as_view()),
    re_path(r"^media/(?P<filename>.+)$", MediaDoc.as_view()),
]
