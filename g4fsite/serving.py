"""uvicorn, stopped cleanly: what `g4f api` runs once `g4fsite.api.run_api` has prepared the start.

On SIGTERM (or Ctrl+C) uvicorn itself closes its listening socket, lets the requests and streams in
flight finish for at most `timeout_graceful_shutdown` seconds (then cancels them), and runs the
ASGI lifespan shutdown, where `g4fsite.asgi.lifespan` writes the queued usage rows. Two gaps are
filled here:

- With `workers=N` the supervising process holds the listening socket too, and stock uvicorn keeps
  it open until every worker has exited: the kernel goes on queueing new connections that no
  worker will accept, so clients hang. `DrainingMultiprocess` closes it as soon as the workers are
  told to stop; a connection that arrives then is refused.
- uvicorn ends a process it stopped by re-raising the signal, so the process dies of SIGTERM (exit
  status -15, `atexit` skipped). `serve` answers the re-raised signal with a no-op, so `g4f api`
  exits 0 after its last flush.
"""

import logging
import os
import signal
import sys
import threading

from uvicorn import Config, Server
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

# Seconds the supervisor waits for its workers beyond their own grace period before it kills them.
WORKER_EXIT_MARGIN = 10.0

logger = logging.getLogger("uvicorn.error")


class DrainingMultiprocess(Multiprocess):
    """uvicorn's worker supervisor, closing the shared listening socket as soon as it stops."""

    def run(self) -> None:
        logger.info("Started parent process [%d]", os.getpid())
        self.init_processes()
        ticks = 0
        while not self.should_exit.wait(0.1):  # signals handled within 0.1 s (uvicorn: 0.5 s)
            self.handle_signals()
            ticks += 1
            if ticks % 5 == 0:  # the workers' health pings, as often as uvicorn sends them
                self.keep_subprocess_alive()
        self.terminate_all()
        for sock in self.sockets:
            sock.close()  # the workers close their copies on SIGTERM: the socket is gone with them
        self.join_all()
        logger.info("Stopping parent process [%d]", os.getpid())

    def join_all(self) -> None:
        grace = self.config.timeout_graceful_shutdown
        for process in self.processes:
            process.process.join(None if grace is None else grace + WORKER_EXIT_MARGIN)
            if process.process.exitcode is None:
                process.kill()
                process.process.join()


def _stopped(signum: int, frame: object) -> None:
    """What the signal uvicorn re-raises after a clean shutdown does: nothing, so the process goes
    on to exit normally (status 0, `atexit` handlers run)."""


def serve(config: Config) -> None:
    """Serve `config` until SIGTERM or SIGINT, then drain and return; exit status 3 (uvicorn's
    STARTUP_FAILURE) if the server never started."""
    if config.workers > 1:
        sock = config.bind_socket()
        DrainingMultiprocess(config, sockets=[sock]).run()
        return
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if main_thread else None
    server = Server(config=config)
    try:
        server.run()
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    if not server.started:
        sys.exit(STARTUP_FAILURE)
