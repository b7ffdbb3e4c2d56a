"""How every process learns that the catalogue changed.

A change (admin save, CLI import, health update) calls `catalogue_invalidate()`, which writes a new
stamp; each request compares the stamp with the one its cached snapshot was built from. The stamp is
32 random hex characters in a file in the data directory by default, seen by every process on the
machine (including `manage.py` commands run while the server is up), or a key in the shared Django
cache (Redis) when the gateway runs on several machines.

Readers map the file into memory, so the check on every request is a memory read rather than a
system call (an `os.stat` per request was 5% of the gateway's CPU). Writers rewrite the bytes in
place, which every mapping sees at once. Once a second a reader checks that the file is still the
one it mapped, so a stamp file deleted and created anew is picked up too.
"""

import mmap
import os
import threading
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from g4fsite.conf import gateway_settings

CACHE_KEY = "g4f:catalogue:stamp"
STAMP_SIZE = 32
RECHECK_SECONDS = 1.0


def _stamp_path() -> str:
    return os.path.join(settings.DATA_DIR, "catalogue.stamp")  # a str: no Path object per request


def _open_stamp(path: str) -> int:
    """The stamp file's descriptor, created with a first random stamp when missing or short."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if os.fstat(fd).st_size < STAMP_SIZE:
        os.pwrite(fd, uuid.uuid4().hex.encode(), 0)
    return fd


class _MappedStamp:
    """The stamp file of one data directory, mapped read-only."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = _open_stamp(path)
        try:
            self.inode = os.fstat(fd).st_ino
            self.map = mmap.mmap(fd, STAMP_SIZE, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        self.checked = time.monotonic()

    def still_current(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except FileNotFoundError:
            return False


_mapped: _MappedStamp | None = None
_map_lock = threading.Lock()


def _mapped_stamp() -> _MappedStamp:
    global _mapped
    mapped, path = _mapped, _stamp_path()
    if mapped is not None and mapped.path == path:
        now = time.monotonic()
        if now - mapped.checked < RECHECK_SECONDS:
            return mapped
        mapped.checked = now
        if mapped.still_current():
            return mapped
    with _map_lock:
        if _mapped is mapped:  # nobody remapped meanwhile
            _mapped = _MappedStamp(path)
        return _mapped


def catalogue_stamp() -> object:
    """The current stamp: any value that changes whenever the catalogue does."""
    if gateway_settings.CATALOGUE_STAMP == "cache":
        return cache.get(CACHE_KEY)
    return _mapped_stamp().map[:STAMP_SIZE]


def catalogue_stamp_renew() -> None:
    """Write a new stamp now, without waiting for a commit; `catalogue_invalidate()` is the usual way in."""
    if gateway_settings.CATALOGUE_STAMP == "cache":
        cache.set(CACHE_KEY, uuid.uuid4().hex, timeout=None)
        return
    fd = _open_stamp(_stamp_path())
    try:
        os.pwrite(fd, uuid.uuid4().hex.encode(), 0)  # in place: every process's mapping sees it
    finally:
        os.close(fd)


def catalogue_invalidate() -> None:
    """Make every process rebuild its catalogue snapshot on its next request (after commit)."""
    transaction.on_commit(catalogue_stamp_renew)
