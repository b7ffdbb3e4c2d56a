"""The `embedding` capability of provider-model mappings (issue 15).

`ProviderModel.capabilities` is a JSON list checked against `Capability` in Python
(`validate_capabilities`), so the new choice changes no column: this migration only marks the
point from which a catalogue may hold it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0005_provider_api_key_encrypted"),
    ]

    operations = []
