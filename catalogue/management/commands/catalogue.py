"""`manage.py catalogue import FILE | export | seed`: load and dump the provider catalogue."""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogue import services


class Command(BaseCommand):
    help = "Import, export or seed the provider catalogue."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="Upsert providers and models from a JSON (or YAML) file.")
        imp.add_argument("file")
        sub.add_parser("export", help="Print the catalogue as JSON, without secrets.")
        sub.add_parser("seed", help="Add the bundled default catalogue's missing entries.")

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
        except services.CatalogueError as exc:
            raise CommandError(str(exc)) from exc
