"""The API key admin: create a key (the plain key is shown once), set its limits, revoke it; a key's
page shows its spend against its budget and its recent usage (never a credential)."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from catalogue import hooks, services
from catalogue.admin_secrets import SecretFieldsAdminMixin
from catalogue.formatting import NONE, format_count, format_ms, format_percent, format_usd
from catalogue.key_services import KEY_SETTINGS
from catalogue.models import ApiKey
from catalogue.selectors import api_auth_enabled
from catalogue.usage_reports import key_recent_requests, key_recent_usage
from g4fsite.conf import gateway_settings

AUTH_RULE = "Auth is on exactly when the master key (G4F_API_KEY) is set or at least one key is active."
AUTH_ON = "Auth is on: every /v1 and /api request needs a key. " + AUTH_RULE
AUTH_OFF = "Auth is off: requests need no key. " + AUTH_RULE + " Revoked keys do not count."


READ_ONLY = ["name", "prefix", "created_at", "last_used_at", "revoked_at", "spend"]


def recent_usage_context(key: ApiKey) -> dict:
    """The key page's usage tables, every number formatted: the last 24 hours by model and provider
    (from the roll-ups) and the last 20 requests (raw rows; no error text, no credential)."""
    by_route = [
        {
            "model": row["model"] or NONE,
            "provider": row["provider"] or "(not routed)",
            "requests": format_count(row["requests"]),
            "errors": format_count(row["errors"]),
            "error_rate": format_percent(row["errors"] / row["requests"]) if row["requests"] else NONE,
            "tokens": format_count(row["prompt_tokens"] + row["completion_tokens"]),
            "cost": format_usd(row["cost"]),
            "p50": format_ms(row["p50_ms"]),
        }
        for row in key_recent_usage(api_key_id=key.pk)
    ]
    recent = [
        {
            "at": timezone.localtime(row.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            "endpoint": row.endpoint,
            "model": row.model or NONE,
            "provider": row.provider or "(not routed)",
            "status": row.status_code,
            "stream": row.stream,
            "tokens": format_count(row.prompt_tokens + row.completion_tokens),
            "cost": format_usd(row.cost),
            "latency": format_ms(row.latency_ms),
        }
        for row in key_recent_requests(api_key_id=key.pk)
    ]
    return {"usage_by_route": by_route, "recent_requests": recent}


class NameListField(forms.CharField):
    """A list of names typed as `a, b`; empty means all."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        return [name.strip() for name in (value or "").split(",") if name.strip()]


class ApiKeyForm(forms.ModelForm):
    allowed_models = NameListField(required=False, help_text="Model names or aliases, comma-separated; empty = all.")
    allowed_providers = NameListField(required=False, help_text="Provider names, comma-separated; empty = all.")

    class Meta:
        model = ApiKey
        fields = ["name", *KEY_SETTINGS]


@admin.register(ApiKey)
class ApiKeyAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    """Keys are created here or with `manage.py apikey create`; the plain key is shown once."""

    form = ApiKeyForm
    list_display = ["name", "prefix", "limits", "spend", "last_used_at", "expires_at", "revoked_at"]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]
    fieldsets = [
        (None, {"fields": ["name", "prefix", "created_at", "last_used_at", "revoked_at"]}),
        ("Limits", {"fields": ["rpm", "tpm", "max_concurrent", "budget", "budget_period", "spend", "expires_at"]}),
        ("Allowed", {"fields": ["allowed_models", "allowed_providers"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return READ_ONLY if obj else []

    def get_fieldsets(self, request: HttpRequest, obj: ApiKey | None = None) -> list:
        if obj is None:
            limits = [name for name in self.fieldsets[1][1]["fields"] if name != "spend"]
            return [(None, {"fields": ["name"]}), ("Limits", {"fields": limits}), *self.fieldsets[2:]]
        return self.fieldsets

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        key = self.get_object(request, object_id)
        usage = recent_usage_context(key) if key is not None else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **usage})

    @admin.display(description="Limits")
    def limits(self, obj: ApiKey) -> str:
        from catalogue.management.commands.apikey import limits_text

        return limits_text(obj)

    @admin.display(description="Spent this period")
    def spend(self, obj: ApiKey) -> str:
        spend = hooks.key_spend(obj)
        if spend is None:
            return "-"
        return f"${spend:.4f}" + (f" of ${obj.budget:.2f}" if obj.budget is not None else "")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        on = api_auth_enabled(master_key=gateway_settings.API_KEY)
        self.message_user(request, AUTH_ON if on else AUTH_OFF, messages.INFO)
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        settings = {name: form.cleaned_data.get(name) for name in KEY_SETTINGS if name in form.cleaned_data}
        try:
            if change:
                services.api_key_update(name=obj.name, **settings)
                return
            key, plain = services.api_key_create(name=form.cleaned_data["name"], **settings)
        except services.CatalogueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        obj.pk = key.pk
        self.message_user(
            request, f"New key for '{key.name}' (copy it now, it is not shown again): {plain}", messages.WARNING
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in queryset:
            services.api_key_revoke(name=key.name)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
