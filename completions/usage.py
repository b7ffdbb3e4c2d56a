"""Token usage estimates, and usage records written off the request path.

`usage_recorder.record()` only appends to an in-memory queue; one daemon thread per process writes
the queue to the database every `USAGE_FLUSH_INTERVAL` seconds: the raw rows and their hourly
roll-ups in one transaction (`catalogue.usage_reports`), and API keys' last use. The same thread
feeds the Prometheus metrics (`completions.monitoring.metrics`) from the rows, so the request path pays one
queue append per request. At interpreter exit (a clean stop of the server or a worker) whatever is
still queued is written.
"""

import atexit
import logging
import queue
import threading
import time
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from completions.monitoring import metrics
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.usage")

# Rows per INSERT batch: preparing a batch holds the GIL (the event loop waits) for about 1.5 ms.
USAGE_BATCH_ROWS = 100


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
    """A queue of usage rows and key touches, flushed to the database by one background thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
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

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="g4f-usage", daemon=True)
                    self._thread.start()
                    atexit.register(self.flush_at_exit)

    def flush_at_exit(self) -> None:
        """Write what is still queued when the process stops (the daemon thread dies with it)."""
        try:
            count = self.flush()
        except Exception:
            logger.exception("Writing the last usage records failed")
            return
        if count:
            logger.info("Wrote %d usage record(s) queued at shutdown.", count)

    def _run(self) -> None:
        while True:
            time.sleep(gateway_settings.USAGE_FLUSH_INTERVAL)
            try:
                self.flush()
            except Exception:
                logger.exception("Writing usage records failed")
                # Reconnect next time; otherwise the thread keeps its one connection open, since
                # reopening it (and SQLite's PRAGMAs) at every flush cost ~10% of the gateway's CPU.
                close_old_connections()

    def flush(self) -> int:
        """Write everything queued so far, with its roll-ups; return how many usage rows were written."""
        from catalogue.models import UsageRecord
        from catalogue.services import api_keys_touch
        from catalogue.usage_reports import usage_rollup_add

        with self._flush_lock:
            rows, touched = [], set()
            while True:
                try:
                    kind, item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if kind == "usage":
                    rows.append(item)
                else:
                    touched.add(item)
            if rows:
                metrics.usage_observe(rows)
                with transaction.atomic():
                    for start in range(0, len(rows), USAGE_BATCH_ROWS):
                        insert_rows(UsageRecord, rows[start : start + USAGE_BATCH_ROWS])
                        time.sleep(0)  # let the event loop thread have the GIL between batches
                    usage_rollup_add(rows)
            if touched:
                api_keys_touch(key_ids=touched)
            return len(rows)


def insert_rows(model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (field attname -> value; missing fields get their defaults) with one
    `executemany`: the values `bulk_create` would write, without its per-row SQL compiler work.
    Plain values go as they are; datetimes and anything else through the field's own conversion.
    Keys that are not fields (`ttft_ms`, for the metrics) are left out."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(model._meta.db_table), ", ".join(quote(field.column) for field in fields), ", ".join(["%s"] * len(fields))
    )
    columns = [(field, field.attname, field.get_default()) for field in fields]

    def db_value(field: Any, value: Any) -> Any:
        if value is None or type(value) in _PLAIN:
            return value
        return field.get_db_prep_save(value, connection)

    params = [[db_value(field, row.get(name, default)) for field, name, default in columns] for row in rows]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)


_PLAIN = frozenset({str, int, float, bool})


usage_recorder = UsageRecorder()
