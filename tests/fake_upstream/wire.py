"""Plain data passed between the fake upstream's server and its protocol modules.

A protocol module (``openai_protocol``, ``anthropic_protocol``, ``gemini_protocol``) never touches
ASGI: it receives a parsed :class:`Request` and returns a :class:`Reply`. The server does all I/O, the
timing (delays, chunk pacing, hangs) and the fault transformations (cut, malformed), so those behave the
same for every protocol. See :class:`ProtocolModule` for what a module must define.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part of a multipart/form-data body."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Request:
    """A request as a protocol module sees it.

    ``route`` is the path after ``/{provider}/{protocol segment}/``, e.g. ``chat/completions`` for
    ``/alpha/v1/chat/completions``. ``json`` is the parsed body or None; ``form`` holds the fields of a
    multipart body (str values, :class:`UploadedFile` for files) or None. ``options`` are the provider's
    normal-behaviour knobs (see ``server.DEFAULT_OPTIONS``); ``base_url`` is the fake's own root URL.
    """

    provider: str
    method: str
    path: str
    route: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    json: Any
    form: dict[str, Any] | None
    options: dict[str, Any]
    base_url: str

    @property
    def json_object(self) -> dict[str, Any]:
        """The parsed body when it is a JSON object, else an empty dict."""
        return self.json if isinstance(self.json, dict) else {}


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send back. A stream sets ``events`` (each item one framed event); otherwise ``body``."""

    status: int = 200
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    events: tuple[bytes, ...] | None = field(default=None)

    @property
    def is_stream(self) -> bool:
        return self.events is not None


class ProtocolModule(Protocol):
    """The contract of a protocol module, registered in ``server.PROTOCOLS``.

    NAME     the name tests use in ``FakeUpstream.provider_url(provider, protocol=NAME)``.
    SEGMENT  the first path segment after the provider that routes to this module
             (``v1`` for OpenAI: ``/{provider}/v1/...``; ``anthropic``: ``/{provider}/anthropic/v1/messages``).
    """

    NAME: str
    SEGMENT: str

    def handle(self, request: Request) -> Reply:
        """Answer normally (no fault), including this protocol's own 404 for an unknown route."""

    def error_reply(
        self, request: Request, status: int, *, retry_after: int | None = None, message: str | None = None
    ) -> Reply:
        """An error in this protocol's shape for an HTTP fault (400, 401, 403, 404, 429, 5xx) or a bug.

        ``retry_after`` (429) goes into a Retry-After header; ``message`` replaces the default text.
        """

    def empty_reply(self, request: Request) -> Reply:
        """A 200 whose body lacks the payload (the ``empty`` fault); a stream if the request asked for one."""

    def model_name(self, request: Request) -> str | None:
        """The upstream model the request names (the ``fault-<mode>`` marker is looked for in it)."""


def json_reply(obj: Any, status: int = 200, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Reply:
    return Reply(status=status, headers=((b"content-type", b"application/json"), *headers), body=orjson.dumps(obj))


def raw_reply(body: bytes, content_type: str, status: int = 200) -> Reply:
    return Reply(status=status, headers=((b"content-type", content_type.encode("latin-1")),), body=body)


def sse_reply(events: list[bytes] | tuple[bytes, ...]) -> Reply:
    headers = ((b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"))
    return Reply(headers=headers, events=tuple(events))


def sse_data(obj: Any) -> bytes:
    """One ``data:`` event holding ``obj`` as JSON."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Fields of a multipart/form-data body: str for plain fields, :class:`UploadedFile` for files."""
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data.decode("utf-8", "replace")
        else:
            fields[name] = UploadedFile(filename=filename, content_type=part.get_content_type(), data=data)
    return fields
