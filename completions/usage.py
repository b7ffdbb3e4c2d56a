"""Token usage estimates, and usage records written off the request path.

`usage_recorder.record()` only appends to an in-memory queue; one daemon thread per process writes
the queue to the database every `USAGE_FLUSH_INTERVAL` seconds: the raw rows and their hourly
roll-ups in one transaction (`catalogue.usage_reports`), and API keys' last use. The same thread
feeds the Prometheus metrics (`completions.monitoring.metrics`) from the rows, so the request path pays one
queue append per request.

Database faults: a batch that fails because the database is unreachable (a restart, an outage) is
retried at once on a fresh connection (the old one may have died with the server), then kept in
memory and retried with a growing pause (at most `RETRY_MAX_DELAY` s). The rows and their roll-ups
commit together or not at all, so a retried batch is counted once. At most `USAGE_BUFFER_ROWS` rows
wait; beyond that the oldest are dropped, with a WARNING counting them. A batch the database refuses
for its content (not a connection fault) is dropped with an ERROR, since retrying cannot help.
At shutdown (ASGI lifespan, or interpreter exit) whatever is still queued is written.
"""

import atexit
import datetime as dt
import functools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connection, models, transaction
from django.utils import timezone

from completions.monitoring import metrics
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.usage")

# Rows per INSERT batch: preparing a batch holds the GIL (the event loop waits) for about 1.5 ms.
USAGE_BATCH_ROWS = 100
# Longest pause between two attempts while the database cannot be written, in seconds.
RETRY_MAX_DELAY = 5.0
# Attempts, one second apart, to write the last rows at shutdown.
EXIT_ATTEMPTS = 3
# Errors that say the connection or the server failed, not the rows: worth a retry.
CONNECTION_ERRORS = (OperationalError, InterfaceError)


def estimate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI's rule of thumb says."""
    return (len(text) + 3) // 4 if text else 0


def message_text(messages: list[Any]) -> str:
    parts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                parts.append(str(function.get("arguments", "")))
    return "\n".join(parts)


def usage_estimate(prompt_text: str, completion_text: str) -> dict[str, int]:
    prompt, completion = estimate_tokens(prompt_text), estimate_tokens(completion_text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class UsageRecorder:
    """A queue of usage rows and key touches, flushed to the database by one background thread;
    rows that could not be written wait in a bounded buffer for the next attempt. `rows_write`
    writes one batch (rows and roll-ups, all or nothing); tests may hand in another."""

    def __init__(self, rows_write: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self._rows_write = rows_write or _rows_write
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._pending: deque[dict[str, Any]] = deque()  # taken from the queue, not yet written
        self._touched: set[int] = set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def record(self, **fields: Any) -> None:
        fields.setdefault("created_at", timezone.now())
        self._queue.put(("usage", fields))
        self._ensure_thread()

    def touch_key(self, key_id: int) -> None:
        self._queue.put(("touch", key_id))
        self._ensure_thread()

    @property
    def pending(self) -> int:
        """Rows taken from the queue and not yet written (waiting for the database)."""
        return len(self._pending)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="g4f-usage", daemon=True)
                    self._thread.start()
                    atexit.register(self.flush_at_exit)

    def flush_at_exit(self) -> None:
        """Write what is still queued when the process stops (the daemon thread dies with it); a
        database that cannot be written gets `EXIT_ATTEMPTS` tries, then the rows are reported lost."""
        for attempt in range(EXIT_ATTEMPTS):
            try:
                count = self.flush()
            except CONNECTION_ERRORS as exc:
                if attempt + 1 < EXIT_ATTEMPTS:
                    time.sleep(1.0)
                    continue
                logger.error(
                    "Lost %d usage record(s) at shutdown: the database cannot be written (%s).",
                    self.pending,
                    _first_line(exc),
                )
                return
            except Exception:
                logger.exception("Writing the last usage records failed")
                return
            if count:
                logger.info("Wrote %d usage record(s) queued at shutdown.", count)
            return

    def _run(self) -> None:
        delay = failing_since = None
        while True:
            time.sleep(delay or gateway_settings.USAGE_FLUSH_INTERVAL)
            try:
                count = self.flush()
            except CONNECTION_ERRORS as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    logger.warning(
                        "Cannot write usage records (%s): keeping %d in memory and retrying.",
                        _first_line(exc),
                        self.pending,
                    )
                delay = min((delay or gateway_settings.USAGE_FLUSH_INTERVAL) * 2, RETRY_MAX_DELAY)
                continue
            except Exception:
                logger.exception("Writing usage records failed")
                count = 0
            if failing_since is not None:
                logger.warning(
                    "The database takes usage records again: wrote %d kept for %.0f s.",
                    count,
                    time.monotonic() - failing_since,
                )
            delay = failing_since = None

    def flush(self) -> int:
        """Write everything queued so far, and every row kept from failed attempts, with their
        roll-ups; return how many usage rows were written. A write that meets a connection fault is
        tried once more on a fresh connection; if that fails too, the rows stay buffered and the
        error (OperationalError or InterfaceError) is raised. Rows that fail otherwise (the database
        refuses them) are dropped, logged, and the error raised: a retry could not help."""
        with self._flush_lock:
            self._take_queued()
            rows = list(self._pending)
            if rows:
                try:
                    _on_fresh_connection_too(self._rows_write, rows)
                except CONNECTION_ERRORS:
                    raise
                except Exception:
                    logger.error("The database refused %d usage record(s); they are dropped.", len(rows))
                    self._pending.clear()
                    raise
                self._pending.clear()  # committed, roll-ups included: never written twice
            if self._touched:
                touched = set(self._touched)
                try:
                    _on_fresh_connection_too(_keys_touch, touched)
                except CONNECTION_ERRORS:
                    raise
                except Exception:
                    self._touched.clear()
                    raise
                self._touched.clear()
            return len(rows)

    def _take_queued(self) -> None:
        """Move the queue into the buffer (counting the rows in the metrics once), keeping at most
        `USAGE_BUFFER_ROWS`: the oldest go first, with a WARNING."""
        rows = []
        while True:
            try:
                kind, item = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "usage":
                rows.append(item)
            else:
                self._touched.add(item)
        if rows:
            self._pending.extend(rows)
            metrics.usage_observe(rows)
        excess = len(self._pending) - max(int(gateway_settings.USAGE_BUFFER_ROWS), 1)
        if excess > 0:
            for _ in range(excess):
                self._pending.popleft()
            logger.warning(
                "Usage buffer full (USAGE_BUFFER_ROWS=%d) while the database cannot be written: "
                "dropped the %d oldest usage record(s).",
                gateway_settings.USAGE_BUFFER_ROWS,
                excess,
            )


def _rows_write(rows: list[dict[str, Any]]) -> None:
    """The rows and their roll-ups in one transaction: all or nothing."""
    from catalogue.models import UsageRecord
    from catalogue.usage_reports import usage_rollup_add

    with transaction.atomic():
        for start in range(0, len(rows), USAGE_BATCH_ROWS):
            insert_rows(UsageRecord, rows[start : start + USAGE_BATCH_ROWS])
            time.sleep(0)  # let the event loop thread have the GIL between batches
        usage_rollup_add(rows)


def _keys_touch(key_ids: set[int]) -> None:
    from catalogue.services import api_keys_touch

    api_keys_touch(key_ids=key_ids)


def _on_fresh_connection_too(write: Any, items: Any) -> None:
    """`write(items)`; after a connection fault, once more on a new connection (a database restart
    leaves this thread a dead one). Any database error closes the connection before it is raised."""
    try:
        try:
            write(items)
        except CONNECTION_ERRORS:
            _connection_discard()
            write(items)
    except DatabaseError:
        _connection_discard()
        raise


def _connection_discard() -> None:
    """Close this thread's connection, which may have died with the server, so that the next query
    opens a new one. (Kept open otherwise: reopening it, and SQLite's PRAGMAs, at every flush cost
    ~10% of the gateway's CPU.)"""
    try:
        connection.close()
    except DatabaseError:
        pass


def _first_line(exc: BaseException) -> str:
    """The first line of a database error (its class if empty): never the connection settings."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def insert_rows(model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (field attname -> value; missing fields get their defaults) with one
    `executemany`: the values `bulk_create` would write, without its per-row SQL compiler work.
    Plain values go as they are, aware datetimes through the backend's adapter, anything else
    through the field's own conversion. Keys that are not fields (`ttft_ms`, for the metrics) are
    left out."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(model._meta.db_table), ", ".join(quote(field.column) for field in fields), ", ".join(["%s"] * len(fields))
    )
    columns = [(field.attname, field.get_default(), _converter(field)) for field in fields]
    params = [
        [
            value if (value := row.get(name, default)) is None or type(value) in _PLAIN else convert(value)
            for name, default, convert in columns
        ]
        for row in rows
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _converter(field: Any) -> Callable[[Any], Any]:
    """How a value that is not plain goes to the database: an aware datetime straight through the
    backend's adapter (what `DateTimeField.get_db_prep_save` ends in), the rest by the field."""
    generic = functools.partial(_prep_save, field)
    if not isinstance(field, models.DateTimeField):
        return generic
    adapt = connection.ops.adapt_datetimefield_value

    def datetime_value(value: Any) -> Any:
        if type(value) is dt.datetime and value.tzinfo is not None:
            return adapt(value)
        return generic(value)

    return datetime_value


def _prep_save(field: Any, value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


_PLAIN = frozenset({str, int, float, bool})


usage_recorder = UsageRecorder()
