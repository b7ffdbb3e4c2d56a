from django.db import migrations, models

import catalogue.models


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0003_provider_health"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provider",
            name="api_key_env",
            field=models.CharField(
                blank=True,
                help_text=(
                    "Environment variable holding the credential (used when api_key is empty): a name ending in "
                    "_API_KEY or _TOKEN, never the gateway's own secrets. Only superusers may set it."
                ),
                max_length=100,
                validators=[catalogue.models.validate_api_key_env],
            ),
        ),
    ]
