"""The servers the benchmark compares. Each module defines one `Server` subclass that starts its
process(es) pinned to the target core, pointed at the bench fake upstream, and says where to send
chat requests for each upstream flavour ("fast", "slow": 1 s delay, "hold": a 10 s stream)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import Target
from bench.procs import Processes, wait_for_port

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"
# Per process, so concurrent runs (the smoke test in someone's test suite, say) never share data dirs.
WORK_DIR = BENCH_DIR / ".work" / f"run-{os.getpid()}"

# Upstream flavours: the model name every target exposes, and the fake upstream path that times it.
FLAVOURS = {"fast": ("bench-fast", ""), "slow": ("bench-slow", "/delay-1000"), "hold": ("bench-hold", "/span-10000")}


class Unavailable(Exception):
    """A target that cannot be installed or started here; the message goes into the results table."""


def upstream_base(port: int, flavour: str) -> str:
    return f"http://127.0.0.1:{port}{FLAVOURS[flavour][1]}/v1"


def uvicorn_command(app: str, port: int, source: str = str(REPO_DIR)) -> list[str]:
    """The uvicorn command line of the gateway's recommended settings, shared by the bare forwarder so
    the floor runs on exactly the same server settings: `g4f api`'s HTTP protocol (one write per turn
    of the loop, g4fsite/http_protocol.py), or uvicorn's httptools for a `source` tree without it."""
    own = os.path.isfile(os.path.join(source, "g4fsite", "http_protocol.py"))
    http = "g4fsite.http_protocol:GatewayHttpProtocol" if own else "httptools"
    return [
        *(sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)),
        *("--loop", "uvloop", "--http", http, "--lifespan", "off", "--no-access-log"),
        *("--log-level", "warning", "--backlog", "4096"),
    ]


@dataclass
class Server:
    """One target. `start()` raises `Unavailable` with a reason; `pid` is the process whose tree is
    measured (CPU time, memory)."""

    name: str = ""
    label: str = ""
    note: str = ""
    pid: int | None = None
    port: int = 0
    api_key: str = ""
    procs: Processes | None = field(default=None, repr=False)

    def prepare(self) -> None:
        """Install what the target needs (may take minutes; called once, before any measuring)."""

    def start(self, procs: Processes, upstream_port: int, cores: set[int] | None) -> None:
        raise NotImplementedError

    def launch(self, procs: Processes, argv: list[str], *, env, cores, cwd, timeout: float, what: str) -> None:
        """Start `argv` as the measured process and wait until it listens on `self.port`; `Unavailable`
        naming `what` (e.g. "litellm") with the log's tail if it exits or does not listen in time."""
        proc, log = procs.start(self.name, argv, env=env, cores=cores, cwd=cwd)
        self.procs, self.pid = procs, proc.pid
        try:
            wait_for_port(self.port, timeout=timeout, proc=proc, log=log)
        except RuntimeError as exc:
            raise Unavailable(f"{what} {exc}") from None

    def stop(self) -> None:
        if self.procs is not None:
            self.procs.stop_pids({self.pid})
        self.pid = None

    def measured_pids(self) -> dict[str, list[int]]:
        """The process trees to measure: "target" (summed: CPU per request), and any others reported
        apart (a reverse proxy in front of several instances)."""
        return {"target": [self.pid] if self.pid else []}

    def target(self, flavour: str) -> Target:
        headers = (("authorization", f"Bearer {self.api_key}"),) if self.api_key else ()
        return Target(f"http://127.0.0.1:{self.port}/v1/chat/completions", headers)

    def body_extra(self, flavour: str) -> dict:
        """Extra request fields this target needs (g4f takes the upstream in `provider`)."""
        return {}

    def model(self, flavour: str) -> str:
        return FLAVOURS[flavour][0]


def all_servers() -> dict[str, type[Server]]:
    from bench.targets.direct import Direct
    from bench.targets.fleet import GatewayPair, GatewayTwoWorkers
    from bench.targets.forwarder import Forwarder
    from bench.targets.g4f import G4F
    from bench.targets.gateway import Gateway, GatewayBaseline, GatewayDaphne, GatewayLimited, GatewayLimitedBaseline
    from bench.targets.litellm import LiteLLM
    from bench.targets.redis_limited import GatewayLimitedRedis, GatewayLimitedRedisBaseline

    classes = (Direct, Forwarder, Gateway, GatewayBaseline, GatewayDaphne, GatewayLimited, GatewayLimitedBaseline)
    classes += (GatewayLimitedRedis, GatewayLimitedRedisBaseline, GatewayTwoWorkers)
    return {cls.name: cls for cls in (*classes, GatewayPair, LiteLLM, G4F)}
