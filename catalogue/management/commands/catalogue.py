"""`manage.py catalogue import FILE | export | seed | refresh [PROVIDER...]`: load, dump and discover
the provider catalogue."""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogue import hooks, services


class Command(BaseCommand):
    help = "Import, export or seed the provider catalogue."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="Upsert providers and models from a JSON (or YAML) file.")
        imp.add_argument("file")
        sub.add_parser("export", help="Print the catalogue as JSON, without secrets.")
        sub.add_parser("seed", help="Add the bundled default catalogue's missing entries.")
        refresh = sub.add_parser("refresh", help="Ask providers for their model lists and add missing models.")
        refresh.add_argument("providers", nargs="*", metavar="PROVIDER", help="Default: every provider not ignored.")

    def handle(self, *args, action: str, **options) -> None:
        try:
            if action == "import":
                result = services.catalogue_import(data=services.catalogue_file_read(options["file"]))
                self.stdout.write(f"Imported {options['file']}: {result.summary()}")
            elif action == "export":
                self.stdout.write(json.dumps(services.catalogue_export(), indent=2))
            elif action == "seed":
                result = services.catalogue_seed()
                self.stdout.write(f"Seeded the default catalogue: {result.summary()}")
            elif action == "refresh":
                self.refresh(options["providers"])
        except services.CatalogueError as exc:
            raise CommandError(str(exc)) from exc

    def refresh(self, names: list[str]) -> None:
        """One line per provider; fails (exit 1) only when every provider asked failed."""
        outcomes = hooks.providers_refresh(names=names)
        for outcome in outcomes:
            (self.stderr if outcome.failed else self.stdout).write(outcome.summary())
        asked = [outcome for outcome in outcomes if not outcome.skipped]
        if asked and all(outcome.failed for outcome in asked):
            raise CommandError(f"No provider answered ({len(asked)} asked).")
