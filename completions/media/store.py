"""The media store: files the gateway generated (images), saved with random names in the "media"
storage (`STORAGES["media"]`: files under MEDIA_ROOT, or a shared S3-compatible bucket; see
`g4fsite/media_settings.py`).

Each stored file has a `MediaFile` row; `/media/{filename}` serves only files that have one
(`completions.media.views`). Links are built from `G4F["PUBLIC_BASE_URL"]` when set (behind a
proxy or a load balancer), otherwise from the request's scheme and Host header. A storage that
fails is `MediaStorageUnavailable` for the client and a log line without credentials.
"""

import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.utils import timezone

from completions import errors
from completions.models import MediaFile
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.media")

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


def media_storage() -> Storage:
    """The storage generated media live in (`STORAGES["media"]`)."""
    return storages["media"]


def is_valid_filename(filename: str) -> bool:
    return bool(FILENAME.match(filename))


def storage_failure(action: str, exc: Exception) -> errors.MediaStorageUnavailable:
    """Log a storage failure (credentials masked) and return the client's error for it."""
    logger.warning("Media storage failed to %s: %s", action, loggable(f"{type(exc).__name__}: {exc}"))
    return errors.MediaStorageUnavailable()


def loggable(text: str) -> str:
    """`text` with the storage's credentials masked, should an error message ever quote them."""
    storage = media_storage()
    for secret in (getattr(storage, "secret_key", None), getattr(storage, "access_key", None)):
        if isinstance(secret, str) and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text[:500]


def _save(data: bytes, content_type: str) -> str:
    filename = f"{secrets.token_urlsafe(24)}.{EXTENSIONS.get(content_type, 'bin')}"
    try:
        saved = media_storage().save(filename, ContentFile(data))
    except Exception as exc:
        raise storage_failure("store a file", exc) from exc
    if saved != filename:  # the filesystem never overwrites: it renamed a (practically impossible) collision
        _delete(saved)
        raise errors.MediaStorageUnavailable()
    return filename


def _delete(filename: str) -> None:
    try:
        media_storage().delete(filename)
    except Exception as exc:  # noqa: BLE001 - a leftover object is logged; the original error matters
        storage_failure(f"remove {filename}", exc)


def _record(filename: str, data: bytes, content_type: str) -> MediaFile:
    return MediaFile.objects.create(
        filename=filename,
        content_type=content_type,
        size=len(data),
        etag=hashlib.sha256(data).hexdigest()[:32],
        created_at=timezone.now(),
    )


def media_store(*, data: bytes, content_type: str) -> MediaFile:
    """Save `data` under a new random name and record it; MediaStorageUnavailable when the storage fails."""
    filename = _save(data, content_type)
    try:
        return _record(filename, data, content_type)
    except Exception:
        _delete(filename)
        raise


async def amedia_store(*, data: bytes, content_type: str) -> MediaFile:
    """`media_store` for async code: the upload runs off the thread the database calls share."""
    filename = await sync_to_async(_save, thread_sensitive=False)(data, content_type)
    try:
        return await sync_to_async(_record)(filename, data, content_type)
    except Exception:
        await sync_to_async(_delete, thread_sensitive=False)(filename)
        raise


def media_lookup(filename: str) -> MediaFile | None:
    """The record of a stored file, or None (also for names the store never makes)."""
    if not is_valid_filename(filename):
        return None
    return MediaFile.objects.filter(filename=filename).first()


amedia_lookup = sync_to_async(media_lookup)


def media_clean(*, older_than: float) -> int:
    """Remove files and rows older than `older_than` seconds; return how many were removed.
    MediaStorageUnavailable (rows of files not yet removed are kept) when the storage fails."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    storage = media_storage()
    removed = 0
    for media in MediaFile.objects.filter(created_at__lt=cutoff).iterator():
        if is_valid_filename(media.filename):
            try:
                storage.delete(media.filename)
            except Exception as exc:
                raise storage_failure(f"remove {media.filename}", exc) from exc
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
