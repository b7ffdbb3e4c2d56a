"""The request path's rows in the admin: uploaded provider cookies, listed by domain with counts,
sizes and expiry, and deleted by cookie or by domain. Values are never shown, searched or filtered."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from catalogue.admin_secrets import SecretFieldsAdminMixin
from completions.cookies.domains import cookie_domains_summary, cookies_delete
from completions.models import ProviderCookie


@admin.register(ProviderCookie)
class ProviderCookieAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    """Cookies arrive through `POST /v1/upload_cookies`; here they are only seen and deleted."""

    change_list_template = "admin/completions/providercookie/change_list.html"
    list_display = ["domain", "name", "path", "secure", "expires", "is_expired", "updated_at"]
    list_filter = ["secure", "domain"]
    search_fields = ["domain", "name"]
    fields = ["domain", "name", "path", "secure", "expires", "updated_at"]
    readonly_fields = fields
    actions = ["delete_selected", "delete_domains", "delete_expired"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ProviderCookie | None = None) -> bool:
        return False

    @admin.display(description="Expired", boolean=True)
    def is_expired(self, obj: ProviderCookie) -> bool:
        return obj.expires is not None and obj.expires <= timezone.now()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        context = {**(extra_context or {}), "cookie_domains": cookie_domains_summary()}
        return super().changelist_view(request, extra_context=context)

    def delete_model(self, request: HttpRequest, obj: ProviderCookie) -> None:
        cookies_delete(ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        cookies_delete(ids=list(queryset.values_list("id", flat=True)))

    @admin.action(description="Delete every cookie of the selected cookies' domains", permissions=["delete"])
    def delete_domains(self, request: HttpRequest, queryset: QuerySet) -> None:
        domains = sorted(set(queryset.values_list("domain", flat=True)))
        count = cookies_delete(domains=domains)
        self.message_user(request, f"Deleted {count} cookie(s) of {', '.join(domains)}.")

    @admin.action(description="Delete every expired cookie", permissions=["delete"])
    def delete_expired(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.message_user(request, f"Deleted {cookies_delete(expired=True)} expired cookie(s).")
