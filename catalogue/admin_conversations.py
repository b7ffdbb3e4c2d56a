"""Conversations in the admin: their messages inline, searchable by id, key and model.

Read-only: conversations are written by the chat endpoints; an operator may only delete them.
"""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from catalogue.admin_secrets import SecretFieldsAdminMixin
from catalogue.models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    ordering = ["position"]
    fields = ["position", "role", "content", "tool_calls", "provider", "model", "incomplete", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["id", "title", "api_key", "owner", "model", "provider", "message_count", "updated_at"]
    list_filter = ["provider", "model"]
    search_fields = ["id", "title", "owner", "api_key__name", "api_key__prefix", "model", "provider"]
    date_hierarchy = "updated_at"
    inlines = [MessageInline]
    readonly_fields = [
        "id",
        "owner",
        "api_key",
        "title",
        "model",
        "provider",
        "lease_until",
        "created_at",
        "updated_at",
    ]
    exclude = ["lease_token"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("api_key").annotate(_message_count=Count("messages"))

    @admin.display(description="Messages", ordering="_message_count")
    def message_count(self, obj: Conversation) -> int:
        return obj._message_count

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False
