"""DRF's exception handler: gateway and DRF errors rendered in the OpenAI shape."""

from typing import Any

from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from completions.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidJSON,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    RateLimited,
    UnsupportedMediaType,
    error_body,
    error_headers,
)
from completions.serializers import validation_error


def drf_exception_handler(exc: Exception, context: dict) -> Any:
    """DRF's EXCEPTION_HANDLER: render gateway and DRF errors in the OpenAI shape."""
    if not isinstance(exc, GatewayError):
        exc = _from_drf(exc)
        if exc is None:
            return None
    response = Response(error_body(exc), status=exc.status_code)
    for name, value in error_headers(exc)[1:]:
        response[name.decode()] = value.decode()
    return response


def _from_drf(exc: Exception) -> GatewayError | None:
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, drf.ParseError):
        return InvalidJSON(str(exc.detail))
    if isinstance(exc, drf.ValidationError):
        return validation_error(exc.detail)
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return AuthenticationFailed()
    if isinstance(exc, drf.PermissionDenied):
        return PermissionDenied(str(exc.detail))
    if isinstance(exc, drf.NotFound):
        return NotFound(str(exc.detail))
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return UnsupportedMediaType(str(exc.detail))
    if isinstance(exc, drf.Throttled):
        return RateLimited(str(exc.detail), retry_after=exc.wait)
    if isinstance(exc, drf.APIException):
        error = GatewayError(str(exc.detail))
        error.status_code = exc.status_code
        return error
    return None
