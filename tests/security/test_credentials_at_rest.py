"""Issue 13 item 17: upstream credentials are encrypted in the database with a key kept apart from it,
the request path still gets the plaintext, the key can be rotated, and the data directory and the
database file are private to their owner."""

import json
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from catalogue import credentials
from catalogue.models import Provider
from catalogue.selectors import catalogue_snapshot, provider_credential
from tests.cli.servers import MANAGE, ROOT, clean_env, manage

SECRET = "sk-upstream-SECRET-at-rest-42"


def stored_api_key(name: str) -> str:
    """The value in the database, read with SQL (not through the model field)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM catalogue_provider WHERE name = %s", [name])
        return cursor.fetchone()[0]


def test_the_database_holds_ciphertext_and_the_request_path_the_credential(gateway):
    gateway.add_provider("alpha", api_key=SECRET)
    stored = stored_api_key("alpha")
    assert stored.startswith("fernet:") and SECRET not in stored and "SECRET" not in stored
    provider = Provider.objects.get(name="alpha")
    assert provider.api_key == SECRET and provider_credential(provider) == SECRET
    assert catalogue_snapshot().provider("alpha").api_key == SECRET
    answer = gateway.post(
        "/v1/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]}
    )
    assert answer.status_code == 200, answer.text
    assert gateway.fake.requests_for("alpha")[-1].headers["authorization"] == f"Bearer {SECRET}"
    # A filter cannot probe the secret (each encryption differs): nothing matches but "".
    assert not Provider.objects.filter(api_key=SECRET).exists()
    assert not Provider.objects.filter(api_key__startswith="sk-").exists()


def test_the_admin_and_the_export_never_show_it(gateway, admin_session):
    gateway.add_provider("alpha", api_key=SECRET)
    pk = Provider.objects.get(name="alpha").pk
    for path in ("/admin/catalogue/provider/", f"/admin/catalogue/provider/{pk}/change/"):
        page = admin_session.get(gateway.url + path, timeout=20)
        assert page.status_code == 200 and "alpha" in page.text
        assert SECRET not in page.text and "fernet:" not in page.text
    from catalogue.services import catalogue_export

    exported = json.dumps(catalogue_export())
    assert SECRET not in exported and "fernet:" not in exported


def test_a_value_from_before_encryption_is_read_as_is():
    assert credentials.credential_decrypt("sk-plain") == "sk-plain"
    assert credentials.credential_decrypt("") == ""
    assert credentials.credential_decrypt(credentials.credential_encrypt("x")) == "x"


def test_a_wrong_key_fails_clearly(settings):
    stored = credentials.credential_encrypt(SECRET)
    settings.SECRETS_KEYS = ["Qlh0oN2dmLSL0mGYbY5ZgS4i7Pma8PbW9t2TqJwZQhU="]
    credentials.secrets_keys_reload()
    try:
        with pytest.raises(credentials.CredentialKeyMismatch, match="G4F_SECRETS_KEY"):
            credentials.credential_decrypt(stored)
    finally:
        settings.SECRETS_KEYS = []
        credentials.secrets_keys_reload()


# The rest runs `manage.py` on a data directory of its own, as an operator would (several seconds each).


@pytest.fixture(scope="module")
def migrated_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("credentials") / "data"  # created by the settings, like a first start
    manage(path, "migrate", "--noinput")
    return path


@pytest.fixture
def data_dir(migrated_dir, tmp_path) -> Path:
    path = tmp_path / "data"
    shutil.copytree(migrated_dir, path)  # modes included
    catalogue = {
        "providers": [{"name": "alpha", "adapter": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": SECRET}]
    }
    (path / "catalogue.json").write_text(json.dumps(catalogue))
    manage(path, "catalogue", "import", str(path / "catalogue.json"))
    return path


def raw(data_dir: Path, sql: str, *args) -> list:
    with sqlite3.connect(data_dir / "db.sqlite3") as db:
        rows = db.execute(sql, args).fetchall()
    db.close()
    return rows


def credential_seen_by_django(data_dir: Path, **env: str) -> str:
    code = (
        "import django; django.setup(); from catalogue.models import Provider; "
        "print(Provider.objects.get(name='alpha').api_key)"
    )
    result = subprocess.run(
        [*MANAGE[:1], "-c", code], cwd=ROOT, env=clean_env(data_dir, **env), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_data_directory_database_and_key_file_are_private(data_dir):
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "db.sqlite3") == 0o600
    assert mode(data_dir / "secrets_key") == 0o600
    assert mode(data_dir / "secret_key") == 0o600
    assert SECRET.encode() not in (data_dir / "db.sqlite3").read_bytes()


@pytest.mark.slow
def test_an_existing_world_readable_database_is_made_private(data_dir):
    (data_dir / "db.sqlite3").chmod(0o644)
    manage(data_dir, "check")
    assert mode(data_dir / "db.sqlite3") == 0o600


@pytest.mark.slow
def test_rotation_with_the_key_file(data_dir):
    before = raw(data_dir, "SELECT api_key FROM catalogue_provider WHERE name='alpha'")[0][0]
    old_key = (data_dir / "secrets_key").read_text().split()
    output = manage(data_dir, "secretskey", "rotate")
    assert "Re-encrypted 1 credential(s)" in output
    new_key = (data_dir / "secrets_key").read_text().split()
    assert len(new_key) == 1 and new_key != old_key
    assert mode(data_dir / "secrets_key") == 0o600
    after = raw(data_dir, "SELECT api_key FROM catalogue_provider WHERE name='alpha'")[0][0]
    assert after.startswith("fernet:") and after != before
    assert credential_seen_by_django(data_dir) == SECRET
    # The old key alone no longer opens it.
    only_old = subprocess.run(
        [
            *MANAGE[:1],
            "-c",
            "import django; django.setup(); from catalogue.models import Provider; Provider.objects.get()",
        ],
        cwd=ROOT,
        env=clean_env(data_dir, G4F_SECRETS_KEY=old_key[0]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert only_old.returncode != 0 and "CredentialKeyMismatch" in only_old.stderr


@pytest.mark.slow
def test_rotation_with_the_environment(data_dir):
    file_key = (data_dir / "secrets_key").read_text().split()[0]
    new_key = manage(data_dir, "secretskey", "generate").strip()
    output = manage(data_dir, "secretskey", "rotate", G4F_SECRETS_KEY=f"{new_key} {file_key}")
    assert "Re-encrypted 1 credential(s)" in output and "Remove the other keys" in output
    assert credential_seen_by_django(data_dir, G4F_SECRETS_KEY=new_key) == SECRET


@pytest.mark.slow
def test_the_migration_encrypts_existing_rows_and_reverses(data_dir):
    manage(data_dir, "migrate", "catalogue", "0003")
    assert raw(data_dir, "SELECT api_key FROM catalogue_provider WHERE name='alpha'")[0][0] == SECRET
    raw(data_dir, "UPDATE catalogue_provider SET api_key = 'sk-legacy-plain' WHERE name='alpha'")
    manage(data_dir, "migrate")
    stored = raw(data_dir, "SELECT api_key FROM catalogue_provider WHERE name='alpha'")[0][0]
    assert stored.startswith("fernet:") and "legacy" not in stored
    assert credential_seen_by_django(data_dir) == "sk-legacy-plain"
