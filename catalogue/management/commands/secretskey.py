"""`manage.py secretskey generate | rotate`: the key that encrypts upstream credentials at rest."""

from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from catalogue import credentials


class Command(BaseCommand):
    help = "Print a new secrets key, or re-encrypt every stored credential with a new key (docs/security.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("generate", help="Print a new key (for G4F_SECRETS_KEY).")
        sub.add_parser(
            "rotate",
            help="With G4F_SECRETS_KEY='NEW OLD': re-encrypt with NEW (then drop OLD). With the key file: "
            "generate a new key, re-encrypt, and keep only the new key in the file.",
        )

    def handle(self, *args, action: str, **options) -> None:
        if action == "generate":
            self.stdout.write(Fernet.generate_key().decode())
            return
        if settings.SECRETS_KEYS:
            count = credentials.credentials_reencrypt()
            self.stdout.write(f"Re-encrypted {count} credential(s) with the first key of G4F_SECRETS_KEY.")
            if len(settings.SECRETS_KEYS) > 1:
                self.stdout.write("Remove the other keys from G4F_SECRETS_KEY now.")
            return
        path = Path(settings.SECRETS_KEY_FILE)
        old = credentials.secrets_keys()
        new = Fernet.generate_key()
        # Both keys first, so that a crash half-way leaves every credential readable.
        credentials.secrets_key_file_write(path, [new, *old], replace=True)
        count = credentials.credentials_reencrypt()
        credentials.secrets_key_file_write(path, [new], replace=True)
        self.stdout.write(f"Re-encrypted {count} credential(s) with a new key in {path}; the old key is gone.")
