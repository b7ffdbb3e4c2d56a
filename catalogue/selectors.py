"""Reads of the catalogue. The request path reads the cached snapshot, never the database."""

import threading

from channels.db import database_sync_to_async

from catalogue.cache import catalogue_stamp
from catalogue.snapshot import CatalogueSnapshot, snapshot_build

_lock = threading.Lock()
_current: CatalogueSnapshot | None = None


def _rebuild(stamp: object) -> CatalogueSnapshot:
    global _current
    with _lock:
        if _current is None or _current.stamp != stamp:
            _current = snapshot_build(stamp)
        return _current


def catalogue_snapshot() -> CatalogueSnapshot:
    """The catalogue as of now; rebuilt from the database only when it changed."""
    stamp = catalogue_stamp()
    current = _current
    if current is not None and current.stamp == stamp:
        return current
    return _rebuild(stamp)


async def acatalogue_snapshot() -> CatalogueSnapshot:
    """Async twin of `catalogue_snapshot`: no thread is used unless a rebuild is needed."""
    stamp = catalogue_stamp()
    current = _current
    if current is not None and current.stamp == stamp:
        return current
    return await database_sync_to_async(_rebuild)(stamp)
