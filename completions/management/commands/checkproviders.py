"""`manage.py checkproviders [NAME...]`: send each provider a real, cheap probe and record the result."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogue.models import Provider
from completions.routing.provider_check import providers_check


class Command(BaseCommand):
    help = (
        "Probe providers (their model list) concurrently and update status, latency, last error and last "
        "check. Without names, every provider not ignored. An operator's not working / ignored is kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="Provider names (case-insensitive).")

    def handle(self, *args, names: list[str], **options) -> None:
        if names:
            providers, missing = [], []
            for name in names:
                provider = Provider.objects.filter(name__iexact=name).first()
                (providers.append(provider) if provider else missing.append(name))
            if missing:
                raise CommandError(f"Unknown provider(s): {', '.join(missing)}.")
        else:
            providers = list(Provider.objects.exclude(status=Provider.Status.IGNORED).order_by("name"))
        if not providers:
            self.stdout.write("No providers to check.")
            return
        results = providers_check(providers)
        for result in results:
            style = self.style.SUCCESS if result.ok else (self.style.WARNING if result.skipped else self.style.ERROR)
            self.stdout.write(style(result.summary()))
        skipped = sum(1 for r in results if r.skipped)
        answered = sum(1 for r in results if r.ok)
        failed = len(results) - skipped - answered
        self.stdout.write(f"{answered} answered, {failed} failed, {skipped} skipped.")
