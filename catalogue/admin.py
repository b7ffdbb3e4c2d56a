"""The operator's view of the catalogue. Writes go through `catalogue.services`."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet, URLField
from django.http import HttpRequest

from catalogue import hooks, services
from catalogue.admin_health import (
    HEALTH_LIST_DISPLAY,
    HEALTH_READONLY_FIELDS,
    ProviderHealthAdminMixin,
    credential_word,
)
from catalogue.admin_secrets import SecretFieldsAdminMixin
from catalogue.formatting import format_ms, format_usd
from catalogue.models import Capability, Model, Provider, ProviderModel, UsageRecord
from g4fsite.conf import gateway_settings


def _https_by_default(field, **kwargs):
    """Form fields for a model field; a URL typed without a scheme means https (Django 6's default)."""
    if isinstance(field, URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class ProviderForm(forms.ModelForm):
    """The credential is write-only: shown masked, kept when left blank, cleared on request."""

    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the stored credential.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Clear the stored credential")
    adapter = forms.ChoiceField(choices=())

    class Meta:
        model = Provider
        fields = "__all__"
        formfield_callback = _https_by_default

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["adapter"].choices = [(name, name) for name in sorted(gateway_settings.ADAPTERS)]
        if self.instance.pk and self.instance.api_key:
            self.fields["api_key"].help_text = f"Set ({_mask(self.instance.api_key)}). Leave blank to keep it."

    def clean(self) -> dict:
        data = super().clean()
        if data.get("clear_api_key"):
            data["api_key"] = ""
        elif not data.get("api_key") and self.instance.pk:
            stored = Provider.objects.filter(pk=self.instance.pk).values_list("api_key", "base_url").first()
            if stored is not None:
                data["api_key"] = stored[0]
                if stored[0] and "base_url" in data and data["base_url"] != stored[1]:
                    # The kept credential would go to the new address: whoever moves it must know it.
                    self.add_error(
                        "api_key",
                        "The base URL changed: enter the credential again (it is sent to the new URL) or clear it.",
                    )
        return data


def _mask(secret: str) -> str:
    return f"{secret[:3]}…{secret[-2:]}" if len(secret) > 8 else "••••"


class ProviderModelForm(forms.ModelForm):
    """Capabilities as checkboxes, stored as the JSON list the catalogue keeps."""

    capabilities = forms.MultipleChoiceField(
        choices=Capability.choices, widget=forms.CheckboxSelectMultiple(attrs={"class": "g4f-capabilities"})
    )

    class Meta:
        model = ProviderModel
        fields = "__all__"

    class Media:
        css = {"all": ["catalogue/admin.css"]}


class ProviderModelInline(admin.TabularInline):
    model = ProviderModel
    form = ProviderModelForm
    extra = 0
    autocomplete_fields = ["model"]
    fields = ["model", "upstream_name", "capabilities", "price_input", "price_output", "discovered"]


@admin.register(Provider)
class ProviderAdmin(ProviderHealthAdminMixin, SecretFieldsAdminMixin, admin.ModelAdmin):
    formfield_overrides = {URLField: {"assume_scheme": "https"}}  # a URL typed without a scheme
    form = ProviderForm
    list_display = [
        "name",
        "state",  # the provider's state in one word (catalogue.provider_state), not the raw status field
        "priority",
        "adapter",
        "model_count",
        "credential",
        *HEALTH_LIST_DISPLAY,
    ]
    list_filter = ["status", "adapter", "needs_auth"]
    search_fields = ["name", "description", "base_url"]
    ordering = ["-priority", "name"]
    inlines = [ProviderModelInline]
    actions = ["mark_working", "mark_not_working", "mark_ignored", "refresh_models", "test_providers"]
    readonly_fields = [
        "status_reason",
        "last_error",
        "last_checked_at",
        "last_latency_ms",
        *HEALTH_READONLY_FIELDS,
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "adapter",
                    "base_url",
                    "status",
                    "priority",
                    "timeout",
                    "supports_stream",
                    "sends_stream_options",
                ]
            },
        ),
        ("Credential", {"fields": ["needs_auth", "api_key", "clear_api_key", "api_key_env"]}),
        ("About", {"fields": ["url", "description"]}),
        ("Health", {"fields": readonly_fields}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_model_count=Count("provider_models"))

    def get_fieldsets(self, request: HttpRequest, obj: Provider | None = None) -> list:
        """A user who may only view sees the credential masked, never the stored value."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        hidden = {"api_key": "credential_masked", "clear_api_key": None}
        return [
            (title, {**options, "fields": [hidden.get(f, f) for f in options["fields"] if hidden.get(f, f)]})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Provider | None = None) -> list[str]:
        """Only a superuser may name an environment variable, or move a provider that reads one to
        another base URL: the variable's value goes to that URL."""
        fields = [*super().get_readonly_fields(request, obj), "credential_masked"]
        if not request.user.is_superuser:
            fields.append("api_key_env")
            if obj is not None and obj.api_key_env:
                fields.append("base_url")
        return fields

    @admin.display(description="API key")
    def credential_masked(self, obj: Provider) -> str:
        return _mask(obj.api_key) if obj.api_key else "-"

    @admin.display(description="Models", ordering="_model_count")
    def model_count(self, obj: Provider) -> int:
        return obj._model_count

    @admin.display(description="Credential")
    def credential(self, obj: Provider) -> str:
        return credential_word(obj)

    class Media:
        css = {"all": ["catalogue/admin.css"]}

    def _set_status(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        count = services.providers_set_status(
            provider_ids=queryset.values_list("id", flat=True), status=status, reason="Set by an operator."
        )
        self.message_user(request, f"{count} provider(s) marked {Provider.Status(status).label.lower()}.")

    @admin.action(description="Mark selected providers as working")
    def mark_working(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, Provider.Status.WORKING)

    @admin.action(description="Mark selected providers as not working")
    def mark_not_working(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, Provider.Status.NOT_WORKING)

    @admin.action(description="Mark selected providers as ignored")
    def mark_ignored(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, Provider.Status.IGNORED)

    @admin.action(description="Refresh models from the provider")
    def refresh_models(self, request: HttpRequest, queryset: QuerySet) -> None:
        for outcome in hooks.providers_refresh(names=list(queryset.values_list("name", flat=True))):
            self.message_user(request, outcome.summary(), messages.ERROR if outcome.failed else messages.INFO)


@admin.register(Model)
class ModelAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["name", "owned_by", "aliases", "price_input", "price_output", "provider_count"]
    search_fields = ["name", "owned_by"]
    inlines = [ProviderModelInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_provider_count=Count("provider_models"))

    @admin.display(description="Providers", ordering="_provider_count")
    def provider_count(self, obj: Model) -> int:
        return obj._provider_count


@admin.register(ProviderModel)
class ProviderModelAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    form = ProviderModelForm
    list_display = ["model", "provider", "upstream_name", "capability_list", "discovered"]
    list_filter = ["provider", "discovered"]
    search_fields = ["model__name", "provider__name", "upstream_name"]
    autocomplete_fields = ["model", "provider"]

    @admin.display(description="Capabilities")
    def capability_list(self, obj: ProviderModel) -> str:
        return ", ".join(obj.capabilities)


@admin.register(UsageRecord)
class UsageRecordAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "model",
        "provider",
        "success",
        "status_code",
        "attempts",
        "latency",
        "cost_usd",
    ]
    list_filter = ["success", "endpoint", "provider", "stream"]
    search_fields = ["model", "provider", "error"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: UsageRecord | None = None) -> bool:
        return False

    @admin.display(description="Latency", ordering="latency_ms")
    def latency(self, obj: UsageRecord) -> str:
        return format_ms(obj.latency_ms)

    @admin.display(description="Cost", ordering="cost")
    def cost_usd(self, obj: UsageRecord) -> str:
        return format_usd(obj.cost)


from catalogue import admin_conversations, admin_keys  # noqa: E402,F401 - register the Conversation and key admins

# The admin index links to the usage dashboard (catalogue.admin_dashboard, routed in g4fsite.urls).
admin.site.index_template = "admin/catalogue/index_with_dashboard.html"
# No navigation sidebar (the index lists the same): its 300 px are the provider list's health columns'.
admin.site.enable_nav_sidebar = False
