"""Secrets stay write-only in the admin: no changelist lookup, search, ordering or read-only display
may reach a credential or key-hash field.

A staff user who may only view a model could otherwise read a secret out one character at a time
through changelist lookups (`?api_key__startswith=sk-a`, or a binary search with `__gt`), also across
relations (`?api_key__key_hash__startswith=` on usage rows). Django's own `UserAdmin` refuses lookups
on `password` the same way.
"""

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

# "app_label.model_name" -> its fields that hold a credential, a key hash or a lease token.
# Names, not classes: the catalogue never imports the `completions` app.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    "catalogue.provider": frozenset({"api_key"}),
    "catalogue.apikey": frozenset({"key_hash"}),
    "catalogue.conversation": frozenset({"lease_token"}),
    "completions.providercookie": frozenset({"value"}),
}


def lookup_reaches_secret(model: type[Model], lookup: str) -> bool:
    """Whether a lookup path (`api_key__key_hash__startswith`) names a secret field of any model it
    passes through; parts that are not fields (transforms, lookups) end the walk."""
    for part in lookup.lstrip("-").split(LOOKUP_SEP):
        if part in SECRET_FIELDS.get(model._meta.label_lower, ()):
            return True
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


class SecretFieldsAdminMixin:
    """Mixed into every ModelAdmin of a model that has, or leads to, a secret field (before
    `admin.ModelAdmin`): such lookups are refused (Django answers 400), and the changelist's
    search fields, ordering and sortable columns never include one."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if lookup_reaches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        fields = super().get_search_fields(request)
        return [name for name in fields if not lookup_reaches_secret(self.model, name.lstrip("^=@"))]

    def get_ordering(self, request: HttpRequest) -> list[str]:
        ordering = super().get_ordering(request) or ()
        return [name for name in ordering if not isinstance(name, str) or not lookup_reaches_secret(self.model, name)]


def secret_exposures(model_admin: admin.ModelAdmin) -> list[str]:
    """Configured admin options that name a secret (for the test that checks every registered admin)."""
    model = model_admin.model
    named = [
        *model_admin.search_fields,
        *(f for f in model_admin.list_display if isinstance(f, str)),
        *(f if isinstance(f, str) else f[0] for f in model_admin.list_filter if isinstance(f, (str, tuple, list))),
        *(f for f in (model_admin.ordering or ()) if isinstance(f, str)),
        *(model_admin.sortable_by or ()),
        *([model_admin.date_hierarchy] if model_admin.date_hierarchy else []),
    ]
    return [name for name in named if lookup_reaches_secret(model, name.lstrip("^=@"))]
