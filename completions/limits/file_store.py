"""Key limits in one file shared by the processes of one machine (no Redis).

Each key has a 64-byte record at offset `key_id * 64`: the request window's start and count, the
token window's start and count, requests in flight and when that last changed, the spend period and
the spend. A step locks the record's byte range with `fcntl.lockf` (and a thread lock, since POSIX
locks do not exclude threads of one process), reads and writes it through a shared memory map of
the file, and unlocks it: two system calls, O(1) whatever the number of keys. The file is sparse and
mapped `MAPPED_BYTES` long (records of unused ids cost no disk); a key id past the map is read and
written with `pread`/`pwrite` under the same lock.
"""

import fcntl
import logging
import mmap
import os
import struct
import threading
import time
from collections.abc import Awaitable, Callable

from catalogue.snapshot import ApiKeyEntry
from completions import errors
from completions.limits import WINDOW, Admission, Counters, rate_headers, refusal, spend_period, tokens_refused
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.limits")
RECORD = struct.Struct("<dqdqqdqd")  # 64 bytes
Record = list  # [req_start, req_count, tok_start, tok_count, inflight, inflight_at, period, spend]
EMPTY_RECORD = (0.0, 0, 0.0, 0, 0, 0.0, 0, 0.0)
# How much of the file is mapped: the records of key ids below 2**20. The file is made this long
# (sparse) when it is shorter, never shortened.
MAPPED_BYTES = RECORD.size << 20
# This process's id, kept current across forks without a system call per step.
_process = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _process.__setitem__(0, os.getpid()))


class FileKeyLimiter:
    """The KeyLimiter over a record file; see the module docstring."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _file(self) -> int:
        if self._fd is None or self._pid != _process[0]:
            self._fd, self._map = self._open()
            self._pid = _process[0]
        return self._fd

    def _open(self) -> tuple[int, mmap.mmap]:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < MAPPED_BYTES:
                    # Processes racing here all ask for the same length: none can shorten the file.
                    os.ftruncate(fd, MAPPED_BYTES)
                return fd, mmap.mmap(fd, MAPPED_BYTES)
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            logger.error("Cannot open the key limits file %s: %s", self.path, exc.strerror)
            raise errors.LimitStoreUnavailable() from exc

    def _update(self, key_id: int, change: Callable[[Record], bool]) -> Record:
        """Run `change` on the key's record under its lock; write it back when `change` returns True."""
        fd, offset = self._file(), key_id * RECORD.size
        mapped = self._map if offset < MAPPED_BYTES else None
        with self._lock:
            fcntl.lockf(fd, fcntl.LOCK_EX, RECORD.size, offset, os.SEEK_SET)
            try:
                if mapped is not None:
                    record = list(RECORD.unpack_from(mapped, offset))
                    if change(record):
                        RECORD.pack_into(mapped, offset, *record)
                else:
                    raw = os.pread(fd, RECORD.size, offset)
                    record = list(RECORD.unpack(raw) if len(raw) == RECORD.size else EMPTY_RECORD)
                    if change(record):
                        os.pwrite(fd, RECORD.pack(*record), offset)
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, RECORD.size, offset, os.SEEK_SET)
        return record

    async def admit(self, key: ApiKeyEntry, estimated_tokens: int, *, spent_elsewhere: float = 0.0) -> Admission:
        """KeyLimiter.admit; `spent_elsewhere` (USD) counts against the budget on top of the file's
        spend (the Redis store's fallback passes what Redis last said)."""
        now = time.time()
        period = spend_period(key.budget_period, now)
        inflight_ttl = gateway_settings.LIMITS_INFLIGHT_TTL
        outcome: list = []

        def take(record: Record) -> bool:
            if now - record[0] >= WINDOW:
                record[0], record[1] = now, 0
            if now - record[2] >= WINDOW:
                record[2], record[3] = now, 0
            if now - record[5] > inflight_ttl:
                record[4] = 0  # a process died holding slots: they expire
            if record[6] != period:
                record[6], record[7] = period, 0.0
            reason = ""
            if key.budget is not None and record[7] + spent_elsewhere >= key.budget:
                reason = "quota"
            elif key.max_concurrent and record[4] >= key.max_concurrent:
                reason = "concurrency"
            elif key.rpm and record[1] >= key.rpm:
                reason = "rpm"
            elif key.tpm and tokens_refused(record[3], estimated_tokens, key.tpm):
                reason = "tpm"
            outcome.append(reason)
            if reason:
                return False
            record[1] += 1
            record[3] += estimated_tokens
            if key.max_concurrent:
                record[4] += 1
                record[5] = now
            return True

        record = self._update(key.id, take)
        counters = Counters(record[1], record[0] + WINDOW - now, record[3], record[2] + WINDOW - now)
        reason = outcome[0]
        return Admission(
            key=key,
            period=period,
            reserved_tokens=estimated_tokens,
            holds_slot=bool(key.max_concurrent) and not reason,
            headers=rate_headers(key, counters),
            refused=refusal(reason, key, counters) if reason else None,
            local=True,
        )

    def admit_soon(self, key: ApiKeyEntry, estimated_tokens: int) -> Awaitable[Admission]:
        """KeyLimiter.admit_soon: counted when awaited (a local step, nothing to wait for)."""
        return self.admit(key, estimated_tokens)

    async def release(self, admission: Admission, *, tokens: int, cost: float) -> None:
        key, now = admission.key, time.time()

        def settle(record: Record) -> bool:
            if admission.holds_slot:
                record[4], record[5] = max(0, record[4] - 1), now
            if key.tpm and now - record[2] < WINDOW:
                record[3] = max(0, record[3] + tokens - admission.reserved_tokens)
            if cost and key.budget is not None and record[6] <= admission.period:
                if record[6] != admission.period:  # the request's period has no spend yet
                    record[6], record[7] = admission.period, 0.0
                record[7] += cost
            return True

        self._update(key.id, settle)

    def spend(self, key: ApiKeyEntry) -> float:
        record = self._update(key.id, lambda record: False)
        return record[7] if record[6] == spend_period(key.budget_period, time.time()) else 0.0
