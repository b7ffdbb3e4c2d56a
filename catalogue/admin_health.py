"""Provider health in the admin: columns, the "Test selected providers" action, and an operator's
status edit in the change form taken as the operator's word (never changed automatically)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from catalogue import hooks
from catalogue.models import Provider
from catalogue.provider_state import provider_state
from catalogue.selectors import provider_credential
from g4fsite.conf import gateway_settings

HEALTH_LIST_DISPLAY = ["success_rate", "latency", "cooling_down", "last_error_short"]
HEALTH_READONLY_FIELDS = ["status_set_by", "cooldown_until", "recent_success_rate", "recent_latency_ms"]


class ProviderHealthAdminMixin:
    """Mixed into `ProviderAdmin` (before `admin.ModelAdmin`)."""

    @admin.display(description="State", ordering="status")
    def state(self, obj: Provider) -> str:
        """The word `/v1/providers` and the chat GUI show (`catalogue.provider_state`), with its reason."""
        ignored = {name.lower() for name in gateway_settings.IGNORED_PROVIDERS}
        state = provider_state(
            status=obj.status,
            status_set_by=obj.status_set_by,
            status_reason=obj.status_reason,
            missing_credential=obj.needs_auth and not provider_credential(obj),
            cooldown_until=obj.cooldown_until.timestamp() if obj.cooldown_until else None,
            now=timezone.now().timestamp(),
            ignored=obj.name.lower() in ignored,
        )
        return f"{state.label}: {state.reason}" if state.reason else state.label

    @admin.display(description="Success (recent)", ordering="recent_success_rate")
    def success_rate(self, obj: Provider) -> str:
        return "-" if obj.recent_success_rate is None else f"{obj.recent_success_rate:.0%}"

    @admin.display(description="Latency (recent)", ordering="recent_latency_ms")
    def latency(self, obj: Provider) -> str:
        value = obj.recent_latency_ms if obj.recent_latency_ms is not None else obj.last_latency_ms
        return "-" if value is None else f"{value:.0f} ms"

    @admin.display(description="Cool-down until", ordering="cooldown_until")
    def cooling_down(self, obj: Provider) -> str:
        if obj.cooldown_until is None or obj.cooldown_until <= timezone.now():
            return "-"
        return timezone.localtime(obj.cooldown_until).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="Last error")
    def last_error_short(self, obj: Provider) -> str:
        return obj.last_error if len(obj.last_error) <= 80 else obj.last_error[:79] + "…"

    @admin.action(description="Test selected providers")
    def test_providers(self, request: HttpRequest, queryset: QuerySet) -> None:
        for result in hooks.providers_check(queryset.order_by("name")):
            level = messages.SUCCESS if result.ok else (messages.WARNING if result.skipped else messages.ERROR)
            self.message_user(request, result.summary(), level)

    def save_model(self, request: HttpRequest, obj: Provider, form, change: bool) -> None:
        if change and "status" in form.changed_data:
            obj.status_set_by = Provider.StatusSetBy.OPERATOR
            obj.cooldown_until = None
        super().save_model(request, obj, form, change)
