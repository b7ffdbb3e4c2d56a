"""Provider credentials encrypted at rest (catalogue/credentials.py).

Forward: the column becomes text and every stored credential `fernet:...`, with G4F_SECRETS_KEY or
the data directory's secrets_key file (created here if missing). Backward (`manage.py migrate
catalogue 0003`): the credentials are decrypted back to plaintext with the same key, then the column
is varchar(1000) again. Rows are read and written with SQL, not through the field, so that each step
sees exactly what is stored.
"""

from django.db import migrations

import catalogue.credentials


def _rewrite(apps, schema_editor, convert) -> None:
    Provider = apps.get_model("catalogue", "Provider")
    quote = schema_editor.connection.ops.quote_name
    table, column = quote(Provider._meta.db_table), quote("api_key")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> ''")
        for pk, stored in cursor.fetchall():
            new = convert(stored)
            if new != stored:
                cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [new, pk])


def encrypt(apps, schema_editor) -> None:
    def convert(stored: str) -> str:
        if stored.startswith(catalogue.credentials.PREFIX):
            return stored
        return catalogue.credentials.credential_encrypt(stored)

    _rewrite(apps, schema_editor, convert)


def decrypt(apps, schema_editor) -> None:
    _rewrite(apps, schema_editor, catalogue.credentials.credential_decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0004_provider_api_key_env_names"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provider",
            name="api_key",
            field=catalogue.credentials.EncryptedCredentialField(
                blank=True, help_text="Upstream credential. Never shown by the API.", max_length=1000
            ),
        ),
        migrations.RunPython(encrypt, decrypt),
    ]
