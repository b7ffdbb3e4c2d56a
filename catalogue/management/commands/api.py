"""`manage.py api [flags]`: serve the gateway, exactly like the `g4f api` console script."""

from django.core.management.base import BaseCommand, CommandParser

from g4fsite.cli import add_api_arguments, run_from_options


class Command(BaseCommand):
    help = "Serve the OpenAI-compatible API (and, with --gui, the chat page); see `g4f api --help`."
    requires_system_checks: list = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_api_arguments(parser)

    def handle(self, *args, **options) -> None:
        run_from_options(options)
