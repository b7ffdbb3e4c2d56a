"""`GET /v1/usage`: the caller's usage by day, model or provider, read from the hourly roll-ups.

A client key sees its own usage only. The master key (and anyone while auth is off) sees every
key's, split by key with its name in `api_key`, and may pick one key with `api_key=NAME`.
"""

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.models import ApiKey
from catalogue.usage_reports import usage_report
from completions import errors
from completions.auth import ANONYMOUS, MASTER, Caller
from completions.openapi.schemas import ERRORS, error

GROUPS = ("day", "model", "provider")
MAX_DAYS = 366
DEFAULT_DAYS = 30

USAGE_ROW = {
    "type": "object",
    "required": ["date", "model", "provider", "requests", "prompt_tokens", "completion_tokens", "cost"],
    "properties": {
        "date": {"type": ["string", "null"], "format": "date"},
        "model": {"type": ["string", "null"]},
        "provider": {"type": ["string", "null"]},
        "api_key": {"type": ["string", "null"], "description": "The master key's view only."},
        "requests": {"type": "integer"},
        "errors": {"type": "integer"},
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "cost": {"type": "number", "description": "USD."},
    },
}
USAGE_LIST = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": USAGE_ROW}},
}


def _day(request: Request, name: str, default: dt.date) -> dt.date:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else _not_a_date(name, value)
    except ValueError:
        return _not_a_date(name, value)


def _not_a_date(name: str, value: str) -> dt.date:
    shown = value[:40]
    raise errors.ValidationFailed(f"'{shown}' is not a date: give {name} as YYYY-MM-DD.", param=name)


def _groups(request: Request) -> list[str]:
    value = request.query_params.get("group_by") or "day"
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in GROUPS]
    if unknown or not names or len(set(names)) != len(names):
        raise errors.ValidationFailed(
            f"group_by takes one or more of {', '.join(GROUPS)}, separated by commas (got '{value[:60]}').",
            param="group_by",
        )
    return names


def _sees_every_key(caller: Caller) -> bool:
    return caller == MASTER or caller == ANONYMOUS


def _key_filter(request: Request, caller: Caller) -> tuple[int | None, bool]:
    """(the key id to report on, or None for every key; whether to split the rows by key)."""
    name = request.query_params.get("api_key")
    if not _sees_every_key(caller):
        if name and name != caller.name:
            raise errors.PermissionDenied("Only the master key may see another key's usage.")
        return caller.key_id, False
    if not name:
        return None, True
    key_id = ApiKey.objects.filter(name=name).values_list("id", flat=True).first()
    if key_id is None:
        raise errors.ValidationFailed(f"There is no API key named '{name[:100]}'.", param="api_key")
    return key_id, True


class UsageView(APIView):
    """`GET /v1/usage?start=YYYY-MM-DD&end=YYYY-MM-DD&group_by=day|model|provider[&api_key=NAME]`."""

    @extend_schema(
        operation_id="usage_list",
        summary="Usage (requests, tokens, cost) by day, model or provider",
        parameters=[
            OpenApiParameter("start", str, description="First day (UTC), YYYY-MM-DD; default 29 days before `end`."),
            OpenApiParameter("end", str, description="Last day (UTC), YYYY-MM-DD; default today."),
            OpenApiParameter("group_by", str, description="`day`, `model`, `provider`, or several with commas."),
            OpenApiParameter("api_key", str, description="The master key only: one key's usage, by name."),
        ],
        responses={
            200: USAGE_LIST,
            400: error("A bad parameter; `param` names it."),
            403: error("A client key asked for another key."),
            **ERRORS,
        },
        tags=["usage"],
    )
    def get(self, request: Request) -> Response:
        caller: Caller = request.caller
        today = timezone.now().astimezone(dt.UTC).date()
        end = _day(request, "end", today)
        start = _day(request, "start", end - dt.timedelta(days=DEFAULT_DAYS - 1))
        if start > end:
            raise errors.ValidationFailed("start must not be after end.", param="start")
        if (end - start).days >= MAX_DAYS:
            raise errors.ValidationFailed(f"At most {MAX_DAYS} days per request.", param="start")
        groups = _groups(request)
        key_id, by_key = _key_filter(request, caller)
        rows = usage_report(start=start, end=end, group_by=groups, api_key_id=key_id, by_key=by_key)
        names = dict(ApiKey.objects.values_list("id", "name")) if by_key else {}
        return Response({"object": "list", "data": [_shown(row, by_key, names) for row in rows]})


def _shown(row: dict[str, Any], by_key: bool, names: dict[int, str]) -> dict[str, Any]:
    shown = {
        "date": row["date"].isoformat() if row["date"] else None,
        "model": row["model"],
        "provider": row["provider"],
        "requests": row["requests"],
        "errors": row["errors"],
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "cost": round(row["cost"], 6),
    }
    if by_key:
        key_id = row["api_key_id"]
        shown["api_key"] = names.get(key_id, f"deleted key #{key_id}") if key_id else None
    return shown
