"""Admin form saves and deletes reach routing: any catalogue row change invalidates the snapshot.

Bulk `update()` calls do not send signals; the services that use them invalidate explicitly.
"""

from django.db.models.signals import post_delete, post_save

from catalogue.cache import catalogue_invalidate
from catalogue.models import ApiKey, Model, Provider, ProviderModel


def _invalidate(sender, **kwargs) -> None:
    catalogue_invalidate()


for _model in (Provider, Model, ProviderModel, ApiKey):
    post_save.connect(_invalidate, sender=_model, dispatch_uid=f"catalogue-invalidate-save-{_model.__name__}")
    post_delete.connect(_invalidate, sender=_model, dispatch_uid=f"catalogue-invalidate-delete-{_model.__name__}")
