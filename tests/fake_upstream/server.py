"""The fake upstream server: uvicorn serving :class:`app.FakeApp` in a background thread on loopback.

The protocol modules and how to add one are described in ``app.py``; faults, options and the request
log in ``state.py``. The server thread owns the event loop; the test thread only calls the
:class:`state.UpstreamState` methods, which swap whole values under a lock.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from .app import PROTOCOLS, FakeApp
from .state import UpstreamState


class FakeUpstream(UpstreamState):
    """A fake upstream HTTP server on loopback; see the package docstring for the API."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = True) -> None:
        super().__init__()
        self.host = host
        self._requested_port = port
        self._access_log = access_log
        self._app = FakeApp(self)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FakeUpstream:
        """Bind, serve in a daemon thread, and return once the server accepts requests."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream is already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        # log_config=None: leave the process's logging alone (the gateway may run uvicorn in-process too).
        config = uvicorn.Config(
            self._app,
            lifespan="on",
            ws="none",
            log_config=None,
            access_log=self._access_log,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"fake-upstream-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("fake upstream failed to start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Wake sleeping and hanging requests, shut the server down and join its thread."""
        if self._thread is None or self._server is None:
            return
        self._app.wake_all()
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("fake upstream thread did not stop")
        self._thread = self._server = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- addresses -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://{self.host}:{self.port}"

    def provider_url(self, provider: str, protocol: str = "openai") -> str:
        """The base URL a client of ``protocol`` uses for fake provider ``provider``."""
        return f"{self.base_url}/{provider}/{PROTOCOLS[protocol].SEGMENT}"
