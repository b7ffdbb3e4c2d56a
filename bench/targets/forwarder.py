"""A bare forwarder (bench/forwarder_app.py) on the gateway's uvicorn settings: the floor for a
Python gateway on this machine, to read the gateway's own cost against."""

from __future__ import annotations

import os
from dataclasses import dataclass

from bench.loadgen import Target
from bench.procs import free_port
from bench.targets import REPO_DIR, Server, upstream_base, uvicorn_command


@dataclass
class Forwarder(Server):
    name: str = "forwarder"
    label: str = "bare forwarder (floor)"
    note: str = "bench/forwarder_app.py (ASGI + aiohttp, ~30 lines) on the gateway's uvicorn settings, 1 worker"

    def start(self, procs, upstream_port: int, cores) -> None:
        self.port = port = free_port()
        env = dict(os.environ, FORWARDER_UPSTREAM=f"http://127.0.0.1:{upstream_port}")
        argv = uvicorn_command("bench.forwarder_app:app", port)
        self.launch(procs, argv, env=env, cores=cores, cwd=REPO_DIR, timeout=30, what="the forwarder")

    def target(self, flavour: str) -> Target:
        # The fake upstream's path for the flavour, on the forwarder's port: it forwards the path as is.
        path = upstream_base(0, flavour).split(":0", 1)[1]
        return Target(f"http://127.0.0.1:{self.port}{path}/chat/completions")
