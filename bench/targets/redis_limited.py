"""The limited key with its counters in Redis: a Redis server of the bench's own (Debian's
`redis-server`, no persistence), so that a run measures the gateway with no limits, the file store
and Redis side by side. Redis runs on the load side's core, like the fake upstream (an outside
service: every round trip wakes the other core), or with `BENCH_REDIS_CORE=target` on the
gateway's own core (a server running both). With `BENCH_LIMITS_REDIS_URL` the targets use that
server instead."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from bench.procs import free_port, wait_for_port
from bench.system import core_plan
from bench.targets import Unavailable
from bench.targets.gateway import UNREACHED_LIMITS, Gateway, GatewayBaseline


def redis_binary() -> str | None:
    return shutil.which("redis-server") or next((p for p in ("/usr/bin/redis-server",) if os.access(p, os.X_OK)), None)


class OwnRedis:
    """Starts the Redis server before the gateway and stops it with the gateway."""

    redis_url: str = ""
    redis_pid: int | None = None

    def prepare(self) -> None:
        if not os.environ.get("BENCH_LIMITS_REDIS_URL") and redis_binary() is None:
            raise Unavailable("redis-server is not installed (Debian's redis-server, in scripts/system-packages.txt)")

    def start(self, procs, upstream_port: int, cores) -> None:
        self.procs = procs
        self.redis_url = os.environ.get("BENCH_LIMITS_REDIS_URL", "")
        if not self.redis_url:
            port = free_port()
            argv = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            load_cores, target_cores = core_plan()
            on_target = os.environ.get("BENCH_REDIS_CORE") == "target"
            proc, log = procs.start(f"{self.name}-redis", argv, cores=target_cores if on_target else load_cores)
            self.note += f" (redis-server on the {'gateway' if on_target else 'load side'}'s core)"
            self.redis_pid = proc.pid
            try:
                wait_for_port(port, timeout=20, proc=proc, log=log)
            except RuntimeError as exc:
                raise Unavailable(f"redis-server {exc}") from None
            self.redis_url = f"redis://127.0.0.1:{port}/0"
        super().start(procs, upstream_port, cores)

    def extra_env(self) -> dict[str, str]:
        return {"REDIS_URL": self.redis_url}

    def stop(self) -> None:
        if self.procs is not None:
            self.procs.stop_pids({self.redis_pid})
        self.redis_pid = None
        super().stop()


@dataclass
class GatewayLimitedRedis(OwnRedis, Gateway):
    name: str = "gateway-limited-redis"
    label: str = "this gateway, limited key, Redis (uvicorn)"
    note: str = "uvicorn, 1 worker, auth on, a limited key counted in Redis"
    key_args: tuple[str, ...] = UNREACHED_LIMITS


@dataclass
class GatewayLimitedRedisBaseline(OwnRedis, GatewayBaseline):
    """`gateway-limited-redis` from the baseline source tree (`BENCH_BASELINE_SRC`)."""

    name: str = "gateway-limited-redis-baseline"
    label: str = "this gateway, limited key, Redis, baseline source (uvicorn)"
    key_args: tuple[str, ...] = UNREACHED_LIMITS
