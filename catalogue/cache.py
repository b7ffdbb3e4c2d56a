"""How every process learns that the catalogue changed.

A change (admin save, CLI import, health update) calls `catalogue_invalidate()`, which replaces a
stamp; each request compares the stamp with the one its cached snapshot was built from. The stamp is
a file in the data directory by default (one `os.stat`, seen by every process on the machine,
including `manage.py` commands run while the server is up) or a key in the shared Django cache
(Redis) when the gateway runs on several machines.
"""

import os
import tempfile
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from g4fsite.conf import gateway_settings

CACHE_KEY = "g4f:catalogue:stamp"


def _stamp_path() -> str:
    return os.path.join(settings.DATA_DIR, "catalogue.stamp")  # a str: no Path object per request


def catalogue_stamp() -> object:
    """The current stamp: any value that changes whenever the catalogue does."""
    if gateway_settings.CATALOGUE_STAMP == "cache":
        return cache.get(CACHE_KEY)
    try:
        info = os.stat(_stamp_path())
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _replace_stamp() -> None:
    if gateway_settings.CATALOGUE_STAMP == "cache":
        cache.set(CACHE_KEY, uuid.uuid4().hex, timeout=None)
        return
    path = _stamp_path()
    # A new file each time: a new inode, so two changes within one clock tick still differ.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".stamp-")
    with os.fdopen(fd, "w") as handle:
        handle.write(uuid.uuid4().hex)
    os.replace(tmp, path)


def catalogue_invalidate() -> None:
    """Make every process rebuild its catalogue snapshot on its next request (after commit)."""
    transaction.on_commit(_replace_stamp)
