"""Provider health in the admin: columns, the "Test selected providers" action, per-row Test and
status buttons, and an operator's status edit in the change form taken as the operator's word
(never changed automatically). The columns are short (details in hover titles) so the provider
list fits a 1280 px window."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from catalogue import hooks, services
from catalogue.formatting import NONE, format_ms, format_percent, format_seconds
from catalogue.models import Provider
from catalogue.provider_state import ProviderState, provider_state
from catalogue.selectors import provider_credential
from g4fsite.conf import gateway_settings

HEALTH_LIST_DISPLAY = ["success_rate", "latency", "cooling_down", "last_error_short", "row_buttons"]
HEALTH_READONLY_FIELDS = ["status_set_by", "cooldown_until", "recent_success_rate", "recent_latency_ms"]
ROW_ACTION = "row_action"  # the name of the per-row buttons, which submit the change list's own form


def provider_row_state(obj: Provider) -> ProviderState:
    """The word `/v1/providers` and the chat GUI show for a catalogue row (`catalogue.provider_state`)."""
    ignored = {name.lower() for name in gateway_settings.IGNORED_PROVIDERS}
    return provider_state(
        status=obj.status,
        status_set_by=obj.status_set_by,
        status_reason=obj.status_reason,
        missing_credential=obj.needs_auth and not provider_credential(obj),
        cooldown_until=obj.cooldown_until.timestamp() if obj.cooldown_until else None,
        now=timezone.now().timestamp(),
        ignored=obj.name.lower() in ignored,
    )


def credential_word(obj: Provider) -> str:
    """`set`, `missing` (needed, none) or `not needed`."""
    if provider_credential(obj):
        return "set"
    return "missing" if obj.needs_auth else "not needed"


def cooldown_left(obj: Provider) -> str:
    if obj.cooldown_until is None or obj.cooldown_until <= timezone.now():
        return NONE
    return format_seconds((obj.cooldown_until - timezone.now()).total_seconds())


def short(text: str, length: int = 28) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


class ProviderHealthAdminMixin:
    """Mixed into `ProviderAdmin` (before `admin.ModelAdmin`)."""

    @admin.display(description="State", ordering="status")
    def state(self, obj: Provider) -> str:
        """The state in one word; its reason on hover."""
        state = provider_row_state(obj)
        return format_html(
            '<span class="g4f-state g4f-{}" title="{}">{}</span>', state.state, state.reason, state.label
        )

    @admin.display(description="Success", ordering="recent_success_rate")
    def success_rate(self, obj: Provider) -> str:
        return format_percent(obj.recent_success_rate)

    @admin.display(description="Latency", ordering="recent_latency_ms")
    def latency(self, obj: Provider) -> str:
        return format_ms(obj.recent_latency_ms if obj.recent_latency_ms is not None else obj.last_latency_ms)

    @admin.display(description="Cool-down", ordering="cooldown_until")
    def cooling_down(self, obj: Provider) -> str:
        return cooldown_left(obj)

    @admin.display(description="Last error")
    def last_error_short(self, obj: Provider) -> str:
        return (
            format_html('<span title="{}">{}</span>', obj.last_error, short(obj.last_error)) if obj.last_error else NONE
        )

    @admin.display(description="")
    def row_buttons(self, obj: Provider) -> str:
        """Test, and the status toggles: buttons that submit the change list form (its CSRF token)."""
        buttons = [("test", "Test", "Test this provider now")]
        if obj.status == Provider.Status.WORKING:
            buttons.append((Provider.Status.NOT_WORKING, "Off", "Mark not working"))
        else:
            buttons.append((Provider.Status.WORKING, "On", "Mark working"))
        if obj.status != Provider.Status.IGNORED:
            buttons.append((Provider.Status.IGNORED, "Ignore", "Mark ignored"))
        return format_html_join(
            "",
            '<button type="submit" class="button g4f-row-button" name="{}" value="{}:{}" title="{}">{}</button>',
            ((ROW_ACTION, action, obj.pk, title, label) for action, label, title in buttons),
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        if request.method == "POST" and ROW_ACTION in request.POST:
            self.row_action(request, request.POST[ROW_ACTION])
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)

    def row_action(self, request: HttpRequest, value: str) -> None:
        """One row's button: `test:<id>` or `<status>:<id>`."""
        action, _, pk = value.partition(":")
        provider = Provider.objects.filter(pk=pk).first() if pk.isdigit() else None
        if provider is None or not self.has_change_permission(request, provider):
            self.message_user(request, "No such provider, or you may not change it.", messages.ERROR)
        elif action == "test":
            self.test_providers(request, Provider.objects.filter(pk=provider.pk))
        elif action in Provider.Status.values:
            services.providers_set_status(provider_ids=[provider.pk], status=action, reason="Set by an operator.")
            label = Provider.Status(action).label.lower()
            self.message_user(request, f"{provider.name} marked {label}.", messages.SUCCESS)
        else:
            self.message_user(request, "Unknown action.", messages.ERROR)

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
