"""The media store: files the gateway generated (images), written under MEDIA_ROOT with random names.

Each stored file has a `MediaFile` row; `/media/{filename}` serves only files that have one
(`completions.media.views`). Links are built from `G4F["PUBLIC_BASE_URL"]` when set (behind a
proxy), otherwise from the request's scheme and Host header.
"""

import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from completions.models import MediaFile
from g4fsite.conf import gateway_settings

# What a stored name looks like: 32 random URL-safe characters and a known extension. Anything else
# in a /media/ path (dots, slashes, encoded characters) is not a name the gateway ever gave out.
FILENAME = re.compile(r"^[A-Za-z0-9_-]{32}\.(png|jpg|webp|gif|mp3|wav|bin)$")
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
}
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def is_valid_filename(filename: str) -> bool:
    return bool(FILENAME.match(filename))


def media_path(filename: str) -> Path | None:
    """The file's path under MEDIA_ROOT, or None for any name the store would not have made."""
    if not is_valid_filename(filename):
        return None
    root = media_root().resolve()
    path = (root / filename).resolve()
    return path if path.parent == root else None


def media_store(*, data: bytes, content_type: str) -> MediaFile:
    """Write `data` under a new random name and record it."""
    root = media_root()
    root.mkdir(parents=True, exist_ok=True)
    extension = EXTENSIONS.get(content_type, "bin")
    filename = f"{secrets.token_urlsafe(24)}.{extension}"
    path = root / filename
    # O_EXCL: never overwrite (a random name colliding is practically impossible, but cheap to rule out).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        return MediaFile.objects.create(
            filename=filename,
            content_type=content_type,
            size=len(data),
            etag=hashlib.sha256(data).hexdigest()[:32],
            created_at=timezone.now(),
        )
    except Exception:
        path.unlink(missing_ok=True)
        raise


amedia_store = sync_to_async(media_store)


def media_lookup(filename: str) -> MediaFile | None:
    """The record of a stored file, or None (also for names the store never makes)."""
    if not is_valid_filename(filename):
        return None
    return MediaFile.objects.filter(filename=filename).first()


def media_clean(*, older_than: float) -> int:
    """Remove files and rows older than `older_than` seconds; return how many were removed."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    removed = 0
    for media in MediaFile.objects.filter(created_at__lt=cutoff).iterator():
        path = media_path(media.filename)
        if path is not None:
            path.unlink(missing_ok=True)
        media.delete()
        removed += 1
    return removed


def public_base_url(scope: Mapping, headers: Mapping[str, str]) -> str:
    """This server's base URL as the client reached it (or as configured when behind a proxy)."""
    configured = gateway_settings.PUBLIC_BASE_URL
    if configured:
        return configured.rstrip("/")
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    host = headers.get("host", "")
    if not _HOST.match(host):
        server = scope.get("server") or ("localhost", None)
        host = server[0] if not server[1] else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}{scope.get('root_path', '')}"


def media_url(base_url: str, filename: str) -> str:
    return f"{base_url}/media/{filename}"
