"""`GET /media/{filename}`: files the gateway stored, and nothing else.

A name must look like one the store gives out and have a `MediaFile` row; anything else (`..`,
encoded or doubled slashes, absolute paths, files dropped into MEDIA_ROOT by hand) is a 404 in the
OpenAI error shape, and so is a row whose file is gone. Files are immutable, so they carry a long
`Cache-Control`, an ETag and Last-Modified, and a matching `If-None-Match` gets a 304.

The view is async and streams the file from the media storage in chunks (each read in a worker
thread), so a large file or a shared bucket never sits whole in memory; Django would first read a
synchronous iterator to its end.
"""

from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.core.files import File
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse, StreamingHttpResponse
from django.utils.http import http_date

from completions import errors
from completions.media.store import amedia_lookup, media_storage, storage_failure
from completions.views import read_only
from g4fsite.conf import gateway_settings

CHUNK_BYTES = 64 * 1024


def _error(exc: errors.GatewayError) -> JsonResponse:
    return JsonResponse(errors.error_body(exc), status=exc.status_code)


class FileChunks:
    """An opened storage file as an async iterator of chunks; closed at the end, or by Django
    (`response.close()`) when the answer stops early."""

    def __init__(self, file: File) -> None:
        self.file = file

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = sync_to_async(self.file.read, thread_sensitive=False)
        try:
            while chunk := await read(CHUNK_BYTES):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self.file.close()


def _exists(filename: str) -> bool:
    try:
        return media_storage().exists(filename)
    except Exception as exc:
        raise storage_failure(f"look up {filename}", exc) from exc


def _open(filename: str) -> File | None:
    try:
        return media_storage().open(filename, "rb")
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise storage_failure(f"read {filename}", exc) from exc


@read_only
async def media_serve(request: HttpRequest, filename: str) -> HttpResponse:
    media = await amedia_lookup(filename)
    if media is None:
        return _error(errors.MediaNotFound("No such media file."))
    etag = f'"{media.etag}"'
    not_modified = etag in (tag.strip() for tag in request.headers.get("If-None-Match", "").split(","))
    try:
        if not_modified or request.method == "HEAD":
            found = await sync_to_async(_exists, thread_sensitive=False)(media.filename)
            file = None
        else:
            file = await sync_to_async(_open, thread_sensitive=False)(media.filename)
            found = file is not None
    except errors.MediaStorageUnavailable as exc:
        return _error(exc)
    if not found:
        return _error(errors.MediaNotFound("No such media file."))
    if not_modified:
        response = HttpResponseNotModified()
    elif file is None:  # HEAD: the headers a GET would have, no body
        response = HttpResponse(b"", content_type=media.content_type)
        response["Content-Length"] = str(media.size)
    else:
        response = StreamingHttpResponse(FileChunks(file), content_type=media.content_type)
        response["Content-Length"] = str(media.size)
    response["Cache-Control"] = f"public, max-age={int(gateway_settings.MEDIA_MAX_AGE)}, immutable"
    response["ETag"] = etag
    response["Last-Modified"] = http_date(media.created_at.timestamp())
    response["X-Content-Type-Options"] = "nosniff"
    return response
