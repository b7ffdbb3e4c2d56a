"""The catalogue version row (issue 16): how a change reaches instances that share only the database."""

from django.db import migrations, models


def version_row_create(apps, schema_editor) -> None:
    apps.get_model("catalogue", "CatalogueVersion").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0009_key_limits_and_prices"),
    ]

    operations = [
        migrations.CreateModel(
            name="CatalogueVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(version_row_create, migrations.RunPython.noop),
    ]
