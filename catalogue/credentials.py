"""Upstream credentials encrypted at rest: `Provider.api_key` is stored as `fernet:<token>`.

The keys live apart from the database: `G4F_SECRETS_KEY` (one or more Fernet keys, separated by
spaces or commas), or else the file `DATA_DIR/secrets_key`, created 0600 with a new key the first
time a credential is written. The first key encrypts, every key decrypts, so rotation is: put the new
key first, run `manage.py secretskey rotate` (which re-encrypts every credential with it), then drop
the old key (the command does all three for the key file). A stored value without the prefix is a
plaintext credential from before encryption; it is read as is and encrypted when next written.
"""

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import MaxLengthValidator
from django.db import models

PREFIX = "fernet:"

_fernet: MultiFernet | None = None


class CredentialKeyMismatch(ImproperlyConfigured):
    """A stored credential does not decrypt with any configured key."""


def secrets_keys() -> list[bytes]:
    """The configured keys, newest (encrypting) first; creates the key file if there is none."""
    if settings.SECRETS_KEYS:
        return [key.encode() for key in settings.SECRETS_KEYS]
    path = Path(settings.SECRETS_KEY_FILE)
    if not path.exists():
        try:
            secrets_key_file_write(path, [Fernet.generate_key()])
        except FileExistsError:
            pass  # another process created it first
    return [line.encode() for line in path.read_text().split() if line]


def secrets_key_file_write(path: Path, keys: list[bytes], *, replace: bool = False) -> None:
    """Write the key file, one key a line, readable by its owner only (0600) from the first byte."""
    target = path.with_name(path.name + ".new") if replace else path
    if replace:
        target.unlink(missing_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(b"\n".join(keys) + b"\n")
    if replace:
        os.replace(target, path)
    secrets_keys_reload()


def secrets_keys_reload() -> None:
    """Forget the loaded keys (after a rotation, or when a test changes them)."""
    global _fernet
    _fernet = None


def _cipher() -> MultiFernet:
    global _fernet
    if _fernet is None:
        try:
            _fernet = MultiFernet([Fernet(key) for key in secrets_keys()])
        except ValueError as exc:
            raise ImproperlyConfigured(f"G4F_SECRETS_KEY or the secrets_key file holds an invalid key: {exc}") from exc
    return _fernet


def credential_encrypt(plain: str) -> str:
    """The stored form of a credential ("" stays "")."""
    if not plain:
        return plain
    return PREFIX + _cipher().encrypt(plain.encode()).decode()


def credential_decrypt(stored: str) -> str:
    """The credential from its stored form; a value from before encryption is returned as is."""
    if not stored or not stored.startswith(PREFIX):
        return stored
    token = stored[len(PREFIX) :].encode()
    try:
        return _cipher().decrypt(token).decode()
    except InvalidToken:
        pass
    secrets_keys_reload()  # `secretskey rotate` may have replaced the key file since it was read
    try:
        return _cipher().decrypt(token).decode()
    except InvalidToken:
        raise CredentialKeyMismatch(
            "A provider credential does not decrypt with G4F_SECRETS_KEY (or the data directory's "
            "secrets_key file): set the key it was encrypted with (see docs/security.md)."
        ) from None


class EncryptedCredentialField(models.TextField):
    """A text field holding a secret: plaintext in Python, `fernet:...` in the database.

    Lookups other than `=""` cannot match (each encryption differs), which is as it should be for a
    secret: nothing can be learnt about it by filtering."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 1000)
        super().__init__(*args, **kwargs)
        self.validators.append(MaxLengthValidator(self.max_length))

    def from_db_value(self, value, expression, connection):
        return credential_decrypt(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return credential_encrypt(value) if value else value


def credentials_reencrypt() -> int:
    """Encrypt every stored credential again with the first (newest) key; returns how many."""
    from django.db import transaction

    from catalogue.models import Provider

    count = 0
    with transaction.atomic():
        for pk, plain in Provider.objects.exclude(api_key="").values_list("pk", "api_key"):
            Provider.objects.filter(pk=pk).update(api_key=plain)
            count += 1
    return count
