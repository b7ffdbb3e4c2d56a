from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0006_embedding_capability"),
    ]

    operations = [
        migrations.AddField(
            model_name="provider",
            name="sends_stream_options",
            field=models.BooleanField(
                default=True,
                help_text=(
                    "OpenAI-compatible streams ask for usage with stream_options.include_usage. Off for upstreams "
                    "that refuse the field (Mistral); a 4xx naming it is retried once without it anyway."
                ),
                verbose_name="sends stream_options",
            ),
        ),
    ]
