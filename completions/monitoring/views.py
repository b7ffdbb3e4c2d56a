"""What a monitoring system reads: `GET /metrics` (Prometheus), `GET /healthz` and `GET /readyz`.

`/healthz` and `/readyz` need no key and say nothing secret: a failed check is named with the
exception's class only (the detail, which may name a database host or user, goes to the log).

`/readyz` fails (503) only for what the instance cannot serve without: the database and a loaded
catalogue. An unreachable cache (Redis with `REDIS_URL`) leaves it serving, degraded (catalogue
snapshot, key checks and limits counted per instance): 200 with `"degraded": true`, so a load
balancer keeps it in rotation.
"""

import hmac
import logging
import secrets
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.selectors import catalogue_snapshot
from completions import errors
from completions.auth import key_from_headers
from completions.monitoring import metrics
from completions.openapi.schemas import OBJECT, error
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.monitoring")


def metrics_refusal(request: Request) -> errors.GatewayError | None:
    """Why a scrape is refused: with `METRICS_TOKEN` set only that token is taken (as a Bearer key);
    without it the master key; with auth off (no master key, no API key) anyone may read."""
    key = key_from_headers({"authorization": request.headers.get("Authorization", "")})
    required = gateway_settings.METRICS_TOKEN or gateway_settings.API_KEY
    if not required:
        if not catalogue_snapshot().has_api_keys:
            return None
        return errors.PermissionDenied(
            "GET /metrics needs G4F_METRICS_TOKEN or the master key (G4F_API_KEY); neither is set."
        )
    if not key:
        return errors.AuthenticationFailed("GET /metrics needs `Authorization: Bearer <token>`.")
    if not hmac.compare_digest(key.encode(), required.encode()):
        which = "G4F_METRICS_TOKEN" if gateway_settings.METRICS_TOKEN else "the master key"
        return errors.AuthenticationFailed(f"GET /metrics needs {which}; this key is not it.")
    return None


class MetricsView(APIView):
    """`GET /metrics`: Prometheus' text exposition format."""

    permission_classes = ()

    @extend_schema(
        operation_id="metrics",
        summary="Prometheus metrics",
        responses={
            (200, "text/plain"): OpenApiResponse({"type": "string"}, description="The text exposition format."),
            401: error("The metrics token (or master key) is missing or wrong."),
            403: error("No metrics token or master key is configured while auth is on."),
        },
        tags=["meta"],
    )
    def get(self, request: Request) -> HttpResponse:
        refusal = metrics_refusal(request)
        if refusal is not None:
            raise refusal
        return HttpResponse(metrics.metrics_exposition(), content_type=metrics.CONTENT_TYPE)


class HealthzView(APIView):
    """`GET /healthz`: the process answers."""

    permission_classes = ()

    @extend_schema(operation_id="healthz", summary="Liveness", responses={200: OBJECT}, tags=["meta"])
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {}


def _cache() -> dict:
    token = secrets.token_hex(8)
    cache.set("g4f:readyz", token, 10)
    if cache.get("g4f:readyz") != token:
        raise RuntimeError("the cache did not return what was written")
    return {}


def _catalogue() -> dict:
    providers = len(catalogue_snapshot().providers)
    if not providers:
        raise LookupError("no providers")
    return {"providers": providers}


CHECKS: dict[str, Callable[[], dict]] = {"database": _database, "cache": _cache, "catalogue": _catalogue}
DEGRADABLE = frozenset({"cache"})  # checks whose failure leaves the instance serving, degraded


class ReadyzView(APIView):
    """`GET /readyz`: the database answers and the catalogue is loaded (else 503); an unreachable
    cache is reported as degraded."""

    permission_classes = ()

    @extend_schema(
        operation_id="readyz",
        summary="Readiness",
        responses={200: OBJECT, 503: error("`not_ready`; `checks` names the failed check.")},
        tags=["meta"],
    )
    def get(self, request: Request) -> Response:
        checks, ready, degraded = {}, True, False
        for name, check in CHECKS.items():
            try:
                checks[name] = {"status": "ok", **check()}
            except Exception as exc:  # noqa: BLE001 - any failure is reported
                logger.warning("Readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
                reason = str(exc) if isinstance(exc, LookupError) else type(exc).__name__
                if name in DEGRADABLE:
                    degraded = True
                    checks[name] = {"status": "unreachable", "reason": reason}
                else:
                    ready = False
                    checks[name] = {"status": "failed", "reason": reason}
        if ready:
            return Response({"status": "degraded" if degraded else "ok", "degraded": degraded, "checks": checks})
        failed = ", ".join(name for name, check in checks.items() if check["status"] == "failed")
        body = errors.error_body(errors.NotReady(f"Not ready: {failed} failed."))
        return Response({"status": "not_ready", "degraded": degraded, "checks": checks, **body}, status=503)
