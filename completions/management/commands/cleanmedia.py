"""`manage.py cleanmedia [--older-than SECONDS]`: remove generated media files and their records,
from the media storage in use (the media directory, or the shared S3 bucket)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from completions import errors
from completions.media.store import media_clean
from g4fsite.conf import gateway_settings


class Command(BaseCommand):
    help = "Remove media files (generated images) older than G4F['MEDIA_RETENTION'] seconds, or --older-than."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, default=None, metavar="SECONDS")

    def handle(self, *args, older_than: float | None, **options) -> None:
        age = gateway_settings.MEDIA_RETENTION if older_than is None else older_than
        try:
            removed = media_clean(older_than=age)
        except errors.MediaStorageUnavailable:
            raise CommandError(
                "The media storage could not be reached (the log line above says why); the rest was left in place."
            ) from None
        self.stdout.write(f"Removed {removed} media file(s) older than {age:g} seconds.")
