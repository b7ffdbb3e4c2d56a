"""The chat page at `/chat/` (`g4f api --gui`). Off, it answers the usual 404 error body."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from completions import errors
from g4fsite.conf import gateway_settings


@require_GET
def chat_page(request: HttpRequest) -> HttpResponse:
    """The GUI's single page; all data comes from the `/v1` API in the browser."""
    if not gateway_settings.GUI:
        exc = errors.NotFound("The web GUI is not enabled on this server (start it with `g4f api --gui`).")
        return JsonResponse(errors.error_body(exc), status=exc.status_code)
    response = render(request, "gui/chat.html", {"api_base": "/v1", "demo": gateway_settings.DEMO})
    # No asset from elsewhere: scripts, styles and connections stay on this origin.
    response["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return response
