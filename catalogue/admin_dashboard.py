"""The operator's dashboard in the admin (`/admin/dashboard/`, linked from the admin index): usage
over the last 24 hours and 30 days as charts and tables (from the roll-ups, never raw rows), and
a provider health board. The charts are drawn by Chart.js, vendored in `catalogue/static/`."""

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest
from django.template.response import TemplateResponse

from catalogue.admin_health import cooldown_left, credential_word, provider_row_state
from catalogue.formatting import NONE, format_count, format_ms, format_percent, format_usd
from catalogue.models import ApiKey, Provider
from catalogue.usage_reports import usage_dashboard

WINDOWS = {"day": "Last 24 hours (by hour, UTC)", "month": "Last 30 days (by day, UTC)"}
BREAKDOWNS = {"by_provider": "Provider", "by_model": "Model", "by_key": "API key"}


def _shown(row: dict[str, Any]) -> dict[str, str]:
    """A row of sums with every number formatted."""
    requests = row["requests"]
    return {
        "requests": format_count(requests),
        "errors": format_count(row["errors"]),
        "error_rate": format_percent(row["errors"] / requests) if requests else NONE,
        "tokens": format_count(row["prompt_tokens"] + row["completion_tokens"]),
        "cost": format_usd(row["cost"]),
        "p50": format_ms(row["p50_ms"]),
        "p95": format_ms(row["p95_ms"]),
    }


def _name(row: dict[str, Any], group: str, keys: dict[int, str]) -> str:
    if group == "by_provider":
        return row["provider"] or "(not routed)"
    if group == "by_model":
        return row["model"] or NONE
    key_id = row["api_key_id"]
    return keys.get(key_id, f"deleted key #{key_id}") if key_id else "master key / no key"


def _chart_data(figures: dict[str, Any], keys: dict[int, str]) -> dict[str, Any]:
    """Plain numbers for the charts (formatted in the browser by the same rules)."""
    data: dict[str, Any] = {}
    for window in WINDOWS:
        series = figures[window]["series"]
        data[window] = {
            "labels": [point["label"] for point in series],
            "requests": [point["requests"] for point in series],
            "errors": [point["errors"] for point in series],
            "tokens": [point["prompt_tokens"] + point["completion_tokens"] for point in series],
            "cost": [round(point["cost"], 6) for point in series],
            "p50": [point["p50_ms"] for point in series],
            "p95": [point["p95_ms"] for point in series],
            "breakdowns": {
                group: {
                    "labels": [_name(row, group, keys) for row in figures[window][group]],
                    "requests": [row["requests"] for row in figures[window][group]],
                    "cost": [round(row["cost"], 6) for row in figures[window][group]],
                }
                for group in BREAKDOWNS
            },
        }
    return data


def health_board() -> list[dict[str, str]]:
    """One line per provider: the state word, success rate, latency, cool-down, last error, credential."""
    board = []
    for provider in Provider.objects.order_by("-priority", "name"):
        state = provider_row_state(provider)
        latency = provider.recent_latency_ms if provider.recent_latency_ms is not None else provider.last_latency_ms
        board.append(
            {
                "name": provider.name,
                "state": state.state,
                "label": state.label,
                "reason": state.reason,
                "success": format_percent(provider.recent_success_rate),
                "latency": format_ms(latency),
                "cooldown": cooldown_left(provider),
                "last_error": provider.last_error,
                "credential": credential_word(provider),
            }
        )
    return board


@staff_member_required
def dashboard_view(request: HttpRequest) -> TemplateResponse:
    from django.contrib import admin

    figures = usage_dashboard()
    keys = dict(ApiKey.objects.values_list("id", "name"))
    windows = []
    for window, title in WINDOWS.items():
        totals = figures[window]["totals"]
        tables = [
            {
                "key": group,
                "title": title_,
                "rows": [{"name": _name(row, group, keys), **_shown(row)} for row in figures[window][group]],
            }
            for group, title_ in BREAKDOWNS.items()
        ]
        windows.append({"key": window, "title": title, "totals": _shown(totals) if totals else None, "tables": tables})
    context = {
        **admin.site.each_context(request),
        "title": "Usage and provider health",
        "windows": windows,
        "health": health_board(),
        "chart_data": _chart_data(figures, keys),
    }
    return TemplateResponse(request, "admin/catalogue/dashboard.html", context)
