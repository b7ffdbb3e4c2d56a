"""Starting and always stopping the processes a benchmark run needs.

Each process runs in its own session (so its whole group, workers included, can be signalled),
optionally pinned to a CPU set, with its output in a log file. `Processes` is a context manager and
also registers itself with `atexit`, so a failure or Ctrl-C never leaves a server behind.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:port; raise with the log's tail if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} while starting{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"did not listen on port {port} within {timeout:.0f} s{_tail(log)}")


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    return ("; log tail:\n    " + "\n    ".join(text)) if text else ""


class Processes:
    """The processes started for one run; `stop_all()` ends every one (and its group)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen]] = []
        atexit.register(self.stop_all)

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cores: set[int] | None = None,
        cwd: str | Path | None = None,
    ) -> tuple[subprocess.Popen, Path]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        handle = open(log, "wb")

        def pin() -> None:
            if cores:
                os.sched_setaffinity(0, cores)

        proc = subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=pin,
        )
        handle.close()
        self.running.append((name, proc))
        return proc, log

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it lingers."""
        self.running = [(n, p) for n, p in self.running if p is not proc]
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(proc, signal.SIGKILL)  # stragglers in the group (workers, helpers)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop_pids(self, pids) -> None:
        """Stop the running processes whose pid is in `pids` (None entries are ignored)."""
        for _, proc in list(self.running):
            if proc.pid in pids:
                self.stop(proc)

    def stop_all(self) -> None:
        for _, proc in list(reversed(self.running)):
            self.stop(proc)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the leader's pid
    except (ProcessLookupError, PermissionError):
        pass
