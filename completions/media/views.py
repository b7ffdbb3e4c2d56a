"""`GET /media/{filename}`: files the gateway stored, and nothing else.

A name must look like one the store gives out and have a `MediaFile` row; anything else (`..`,
encoded or doubled slashes, absolute paths, files dropped into MEDIA_ROOT by hand) is a 404 in the
OpenAI error shape. Files are immutable, so they carry a long `Cache-Control`, an ETag and
Last-Modified, and a matching `If-None-Match` gets a 304.
"""

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from completions import errors
from completions.media.store import media_lookup, media_path
from g4fsite.conf import gateway_settings


def _not_found() -> JsonResponse:
    exc = errors.MediaNotFound("No such media file.")
    return JsonResponse(errors.error_body(exc), status=404)


@csrf_exempt  # read-only: other methods get a JSON 405, not Django's CSRF page
def media_serve(request: HttpRequest, filename: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        exc = errors.MethodNotAllowed(f"Method {request.method} is not allowed here.")
        return JsonResponse(errors.error_body(exc), status=405, headers={"Allow": "GET, HEAD"})
    media = media_lookup(filename)
    path = media_path(filename) if media is not None else None
    if path is None or not path.is_file():
        return _not_found()
    etag = f'"{media.etag}"'
    headers = {
        "Cache-Control": f"public, max-age={int(gateway_settings.MEDIA_MAX_AGE)}, immutable",
        "ETag": etag,
        "Last-Modified": http_date(media.created_at.timestamp()),
        "X-Content-Type-Options": "nosniff",
    }
    if etag in (tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")):
        response = HttpResponseNotModified()
    else:
        # Generated images are small: one read, no sync iterator for the ASGI handler to wrap.
        response = HttpResponse(path.read_bytes(), content_type=media.content_type)
    for name, value in headers.items():
        response[name] = value
    return response
