"""Writes provider health to the catalogue off the request path (see `completions.routing.health`)."""

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from django.db import close_old_connections

from g4fsite.conf import gateway_settings

if TYPE_CHECKING:
    from completions.routing.health import HealthBoard

logger = logging.getLogger("g4f.health")


class HealthWriter:
    """Writes health to the catalogue on one daemon thread per process: transitions in the order they
    happened, and the statistics every `HEALTH_FLUSH_INTERVAL` seconds."""

    def __init__(self, board: "HealthBoard") -> None:
        self.board = board
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0

    def submit(self, service: str, **kwargs: Any) -> None:
        """Queue a call of `catalogue.services.<service>(**kwargs)`."""
        with self._idle:
            self._pending += 1
        self._queue.put((service, kwargs))
        self.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued write is done (tests and commands); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stats_flush(self) -> int:
        """Write the statistics changed since the last flush; return how many rows."""
        from catalogue import services

        rows = self.board.stats_drain()
        for row in rows:
            services.provider_health_stats_record(**row)
        return len(rows)

    def start(self) -> None:
        """Start the writer thread if it is not running yet."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="g4f-health", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        from catalogue import services

        next_stats = time.monotonic() + gateway_settings.HEALTH_FLUSH_INTERVAL
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_stats - time.monotonic()))
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    service, kwargs = item
                    getattr(services, service)(**kwargs)
                if time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + gateway_settings.HEALTH_FLUSH_INTERVAL
                    self.stats_flush()
            except Exception:
                logger.exception("Writing provider health failed")
            finally:
                close_old_connections()
                if item is not None:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()
