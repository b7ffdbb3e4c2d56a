"""`manage.py apikey create NAME | list | revoke NAME`: client keys for the gateway."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogue import services
from catalogue.models import ApiKey


class Command(BaseCommand):
    help = "Create, list or revoke API keys. A new key is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a key and print it (shown only this once).")
        create.add_argument("name")
        sub.add_parser("list", help="List keys (prefix, created, last used, revoked).")
        revoke = sub.add_parser("revoke", help="Revoke a key by name.")
        revoke.add_argument("name")

    def handle(self, *args, action: str, **options) -> None:
        try:
            if action == "create":
                key, plain = services.api_key_create(name=options["name"])
                self.stdout.write(f"Created key '{key.name}'. Store it now: it is not shown again.")
                self.stdout.write(plain)
            elif action == "revoke":
                key = services.api_key_revoke(name=options["name"])
                self.stdout.write(f"Revoked key '{key.name}' ({key.prefix}...).")
            else:
                self._list()
        except services.CatalogueError as exc:
            raise CommandError(str(exc)) from exc

    def _list(self) -> None:
        keys = ApiKey.objects.all()
        if not keys:
            self.stdout.write("No keys.")
            return
        self.stdout.write(f"{'NAME':24} {'PREFIX':16} {'CREATED':20} {'LAST USED':20} STATUS")
        for key in keys:
            last = key.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if key.last_used_at else "never"
            status = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            self.stdout.write(
                f"{key.name:24} {key.prefix + '...':16} {key.created_at:%Y-%m-%d %H:%M:%S}  {last:20} {status}"
            )
