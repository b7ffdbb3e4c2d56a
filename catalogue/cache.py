"""How every process learns that the catalogue changed.

A change (admin save, CLI import, health update) calls `catalogue_invalidate()`, which writes a new
stamp; each request compares the stamp with the one its cached snapshot was built from. The stamp is
32 random hex characters in a file in the data directory, seen by every process on the machine
(including `manage.py` commands run while the server is up); when the gateway runs on several
machines (`CATALOGUE_STAMP = "cache"`, set by `REDIS_URL`) writers also set a key in the shared Django
cache (Redis) and publish it on CHANGE_CHANNEL: each process takes it from its subscription at once,
and reads the key in the background once a second with the version row below, for a message missed
while disconnected (a Redis round trip on the event loop per request cost more CPU than the rest of
the stamp check).

Readers map the file into memory, so the check on every request is a memory read rather than a
system call (an `os.stat` per request was 5% of the gateway's CPU). Writers rewrite the bytes in
place, which every mapping sees at once. Once a second a reader checks that the file is still the
one it mapped, so a stamp file deleted and created anew is picked up too.

The file and Redis stamps reach only processes that share the data directory or the Redis server. A
writer that shares neither (a `manage.py` command on another machine, or run without `REDIS_URL`)
still shares the database, so every change also raises `CatalogueVersion.version` in its own
transaction, and each process reads that row at most once a second (`catalogue_version_refresh`,
about 0.1 ms on SQLite). The async path never waits for it: `catalogue_version_refresh_soon` hands the
read to one background thread that keeps its database connection (opening a connection per read, as
`database_sync_to_async` does, was about 10% of the gateway's profile samples). A change reaches every
instance within about a second wherever it was made. The stamp a snapshot is tagged with is the pair of both.
"""

import asyncio
import logging
import mmap
import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from catalogue.models import CatalogueVersion
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.catalogue")
CACHE_KEY = "g4f:catalogue:stamp"
STAMP_SIZE = 32
RECHECK_SECONDS = 1.0
VERSION_RECHECK_SECONDS = 1.0
REDIS_RETRY_SECONDS = 1.0
RECHECK_NOW_SECONDS = 0.1  # at most this often `catalogue_version_recheck` reads the shared stamps anew


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


_version: int | None = None  # the database's catalogue version as last read by this process
_version_checked = float("-inf")  # time.monotonic() of that read


def catalogue_version_due() -> bool:
    """Whether a second has passed since this process last read the catalogue version row."""
    return time.monotonic() - _version_checked >= VERSION_RECHECK_SECONDS


def catalogue_version_refresh() -> None:
    """Read the catalogue version row (sync: call it off the event loop). A database error keeps the
    last version read, so the snapshot in memory keeps serving; the next try is a second later."""
    global _version_checked
    _version_checked = time.monotonic()  # first, so concurrent callers do not all query
    _version_read()


def _version_read() -> None:
    global _version
    if gateway_settings.CATALOGUE_STAMP == "cache":
        _cache_stamp()
    try:
        _version = CatalogueVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    except DatabaseError as exc:
        logger.warning("Could not read the catalogue version: %s", exc)
        connection.close()  # a connection the database dropped is not reused


_version_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="g4f-catalogue-version")


_recheck: Future | None = None
_recheck_at = float("-inf")


async def catalogue_version_recheck() -> None:
    """Read the shared stamps (Redis, the version row) now, in the background thread, and wait for it;
    concurrent callers share one read, and a read less than RECHECK_NOW_SECONDS old is not repeated.
    For a key the snapshot does not know, which may have been created on another instance a moment
    ago: so a new key works at once everywhere, and the request path reads nothing when keys are known."""
    global _recheck, _recheck_at
    if _recheck is None or (_recheck.done() and time.monotonic() - _recheck_at >= RECHECK_NOW_SECONDS):
        _recheck_at = time.monotonic()
        _recheck = _version_reader.submit(catalogue_version_refresh)
    await asyncio.wrap_future(_recheck)


def catalogue_version_refresh_soon() -> None:
    """Start reading the catalogue version row in the background thread and return at once (for the
    event loop); the new version applies to the requests that come after the read."""
    global _version_checked
    _version_checked = time.monotonic()
    _version_reader.submit(_version_read)


_cache_backend = None


def _stamp_cache():
    """One cache backend (and so one Redis connection pool) for the process. `django.core.cache.cache`
    is per async context: every request got its own backend and pool, so a new Redis connection
    (about 5 ms of CPU with redis-py's handshake) per request."""
    global _cache_backend
    if _cache_backend is None:
        _cache_backend = caches.create_connection(DEFAULT_CACHE_ALIAS)
    return _cache_backend


def _forget_cache(*, setting: str, **kwargs) -> None:
    global _cache_backend
    if setting == "CACHES":
        _cache_backend = None


setting_changed.connect(_forget_cache)

_cache_stamp_last: object = None
_cache_retry_at = float("-inf")


def _cache_stamp() -> object:
    """Read the Redis stamp (sync: off the event loop); while Redis fails, the last one read stays
    (asked again once a second), so the snapshot keeps serving and the version row still brings changes in."""
    global _cache_stamp_last, _cache_retry_at
    if time.monotonic() < _cache_retry_at:
        return _cache_stamp_last
    try:
        _cache_stamp_last = _stamp_cache().get(CACHE_KEY)
    except Exception as exc:  # noqa: BLE001 - whatever the cache backend raises when its server is gone
        _cache_retry_at = time.monotonic() + REDIS_RETRY_SECONDS
        logger.warning("Could not read the catalogue stamp from the cache: %s", exc)
    return _cache_stamp_last


CHANGE_CHANNEL = "g4f:catalogue:changed"  # writers publish each new Redis stamp here
_listening = False
_publisher = None


def _listen_for_changes(url: str) -> None:
    """Thread: take each new Redis stamp as writers publish it, so every instance sees a change made
    anywhere within milliseconds; the once-a-second read stays for messages missed while
    disconnected (then this reconnects after REDIS_RETRY_SECONDS)."""
    global _cache_stamp_last
    import redis

    while True:
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_keepalive=True)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(CHANGE_CHANNEL)
            pubsub.get_message(timeout=5)  # the subscription confirmed: nothing published from now on is missed
            _cache_stamp()  # and what was published before it is read
            for message in pubsub.listen():
                if message["type"] == "message":
                    _cache_stamp_last = message["data"].decode()
        except Exception as exc:  # noqa: BLE001 - whatever redis-py raises when its server is gone
            logger.debug("Catalogue change listener: %s; reconnecting", exc)
        time.sleep(REDIS_RETRY_SECONDS)


def catalogue_change_listener_start() -> None:
    """With `REDIS_URL` and the cache stamp, subscribe to catalogue changes now (the server calls it
    when it loads the application, so the subscription is up before the first request)."""
    if gateway_settings.CATALOGUE_STAMP == "cache":
        _listen_once_per_process()


def _listen_once_per_process() -> None:
    """Start the listener thread, once per process (a forked child starts its own)."""
    global _listening
    url = getattr(settings, "REDIS_URL", "")
    if url and not _listening:
        _listening = True
        threading.Thread(target=_listen_for_changes, args=(url,), name="g4f-catalogue-changes", daemon=True).start()


def _forget_listener() -> None:
    global _listening
    _listening = False


os.register_at_fork(after_in_child=_forget_listener)


def _publish_stamp(stamp: str) -> None:
    global _publisher
    url = getattr(settings, "REDIS_URL", "")
    if url:
        import redis

        if _publisher is None or _publisher[0] != url:
            timeout = getattr(settings, "REDIS_TIMEOUT", 0.5)
            _publisher = (url, redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout))
        _publisher[1].publish(CHANGE_CHANNEL, stamp)


def catalogue_stamp() -> object:
    """The current stamp: any value that changes whenever the catalogue does (the file or Redis
    stamp with the database version last read; `catalogue_version_refresh` renews the latter)."""
    if gateway_settings.CATALOGUE_STAMP == "cache":
        if not _listening:
            _listen_once_per_process()
        return (_mapped_stamp().map[:STAMP_SIZE], _cache_stamp_last, _version)
    return (_mapped_stamp().map[:STAMP_SIZE], _version)


def catalogue_stamp_renew() -> None:
    """Write a new stamp now, without waiting for a commit; `catalogue_invalidate()` is the usual way in."""
    if gateway_settings.CATALOGUE_STAMP == "cache":
        try:
            stamp = uuid.uuid4().hex
            _stamp_cache().set(CACHE_KEY, stamp, timeout=None)
            _publish_stamp(stamp)
        except Exception as exc:  # noqa: BLE001 - the change is committed; the version row carries it
            logger.warning("Could not write the catalogue stamp to the cache: %s", exc)
    fd = _open_stamp(_stamp_path())
    try:
        os.pwrite(fd, uuid.uuid4().hex.encode(), 0)  # in place: every process's mapping sees it
    finally:
        os.close(fd)


def catalogue_version_bump() -> None:
    """Raise the catalogue version row in the current transaction (created when missing)."""
    if not CatalogueVersion.objects.filter(pk=1).update(version=F("version") + 1):
        CatalogueVersion.objects.bulk_create([CatalogueVersion(pk=1, version=1)], ignore_conflicts=True)


def catalogue_invalidate() -> None:
    """Make every process rebuild its catalogue snapshot: at once on this machine (or with Redis)
    after commit, and within about a second anywhere through the version row."""
    catalogue_version_bump()
    transaction.on_commit(catalogue_stamp_renew)
