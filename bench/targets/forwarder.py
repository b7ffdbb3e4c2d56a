"""A bare forwarder (bench/forwarder_app.py) on the gateway's uvicorn settings: the floor for a
Python gateway on this machine, to read the gateway's own cost against."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from bench.loadgen import Target
from bench.procs import free_port, wait_for_port
from bench.targets import REPO_DIR, Server, Unavailable, upstream_base


@dataclass
class Forwarder(Server):
    name: str = "forwarder"
    label: str = "bare forwarder (floor)"
    note: str = "bench/forwarder_app.py (ASGI + aiohttp, ~30 lines) on the gateway's uvicorn settings, 1 worker"

    def start(self, procs, upstream_port: int, cores) -> None:
        self.port = port = free_port()
        env = dict(os.environ, FORWARDER_UPSTREAM=f"http://127.0.0.1:{upstream_port}")
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.forwarder_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        ]
        proc, log = procs.start(self.name, argv, env=env, cores=cores, cwd=REPO_DIR)
        try:
            wait_for_port(port, timeout=30, proc=proc, log=log)
        except Exception as exc:
            raise Unavailable(str(exc)) from exc
        self.procs, self.pid = procs, proc.pid

    def target(self, flavour: str) -> Target:
        # The fake upstream's path for the flavour, on the forwarder's port: it forwards the path as is.
        path = upstream_base(0, flavour).split(":0", 1)[1]
        return Target(f"http://127.0.0.1:{self.port}{path}/chat/completions")
