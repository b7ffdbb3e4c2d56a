"""`manage.py usage prune [--days N] | rebuild [--since YYYY-MM-DD]`: raw usage rows and roll-ups."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from catalogue.usage_reports import usage_prune, usage_rollup_rebuild
from g4fsite.conf import gateway_settings


class Command(BaseCommand):
    help = "Delete raw usage rows past their retention (roll-ups stay), or rebuild roll-ups from raw rows."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        prune = sub.add_parser("prune", help="Delete raw usage rows older than USAGE_RETENTION_DAYS (or --days).")
        prune.add_argument("--days", type=float, default=None, help="Keep this many days instead.")
        rebuild = sub.add_parser("rebuild", help="Recompute the roll-ups from the raw rows still kept.")
        rebuild.add_argument("--since", default=None, help="Only from this day on (YYYY-MM-DD, UTC).")

    def handle(self, *args, action: str, **options) -> None:
        if action == "prune":
            days = options["days"] if options["days"] is not None else gateway_settings.USAGE_RETENTION_DAYS
            if days < 0:
                raise CommandError("--days must not be negative.")
            deleted = usage_prune(days=days)
            self.stdout.write(f"Deleted {deleted} usage row(s) older than {days:g} day(s); roll-ups kept.")
            return
        since = None
        if options["since"]:
            try:
                since = dt.date.fromisoformat(options["since"])
            except ValueError as exc:
                raise CommandError(f"--since: {exc}") from exc
        with transaction.atomic():
            counted = usage_rollup_rebuild(since=since)
        self.stdout.write(f"Rebuilt the roll-ups from {counted} usage row(s).")
