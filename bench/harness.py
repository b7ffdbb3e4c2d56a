"""One benchmark run: start the fake upstream, start each target in turn, measure every scenario
against every started target (interleaved: scenario by scenario, each round visiting the targets
in a rotated order), stop everything.

Targets are started once and kept running for the run, so interleaving costs no restarts; a
target that cannot be prepared or started is recorded with the reason and skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field

from bench import scenarios as sc
from bench.procs import Processes, free_port, wait_for_port
from bench.system import core_plan, raise_nofile, run_async, wake_cost
from bench.targets import REPO_DIR, WORK_DIR, Server, Unavailable, all_servers


@dataclass
class RunConfig:
    targets: list[str]
    scenarios: list[str]
    duration: float = 5.0
    warmup: float = 1.0
    rounds: int = 1
    verbose: bool = True


@dataclass
class RunResult:
    config: RunConfig
    rows: list[dict] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # target -> why it is not in the table
    notes: dict[str, str] = field(default_factory=dict)  # target -> how it was run
    upstream_capacity: dict | None = None


def _log(config: RunConfig, message: str) -> None:
    if config.verbose:
        print(message, file=sys.stderr, flush=True)


def start_upstream(procs: Processes, cores: set[int] | None) -> tuple[int, int]:
    """Start the bench fake upstream; return (port, pid)."""
    port = free_port()
    proc, log = procs.start(
        "fake-upstream",
        [sys.executable, "-m", "bench.fake_upstream", "--port", str(port), "--chunks", "20"],
        cores=cores,
        cwd=REPO_DIR,
    )
    wait_for_port(port, timeout=15, proc=proc, log=log)
    return port, proc.pid


def _interrupt_as_exit(signum, frame):  # SIGTERM / SIGHUP behave like Ctrl-C: clean up and leave
    raise KeyboardInterrupt


def run(config: RunConfig) -> RunResult:
    """Run the benchmark; always stops every process it started."""
    raise_nofile(16384)
    previous_handlers = {sig: signal.signal(sig, _interrupt_as_exit) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous_affinity = os.sched_getaffinity(0)
    load_cores, target_cores = core_plan()
    if load_cores:
        os.sched_setaffinity(0, load_cores)
    try:
        return _run(config, load_cores, target_cores)
    finally:  # the caller (a test session, say) gets its process back as it was
        if not os.environ.get("BENCH_KEEP_WORK"):
            shutil.rmtree(WORK_DIR, ignore_errors=True)
        os.sched_setaffinity(0, previous_affinity)
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)


def _run(config: RunConfig, load_cores: set[int] | None, target_cores: set[int] | None) -> RunResult:
    result = RunResult(config)
    registry = all_servers()
    servers: list[Server] = []
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    with Processes(WORK_DIR / "logs") as procs:
        upstream_port, upstream_pid = start_upstream(procs, load_cores)
        _log(
            config,
            f"fake upstream on port {upstream_port} (pid {upstream_pid}); load on cores "
            f"{sorted(load_cores) if load_cores else 'any'}, "
            f"targets on {sorted(target_cores) if target_cores else 'any'}",
        )
        for name in config.targets:
            server = registry[name]()
            started = time.monotonic()
            try:
                server.prepare()
                server.start(procs, upstream_port, target_cores)
            except Unavailable as exc:
                result.missing[name] = str(exc)
                _log(config, f"  {name}: not measured: {exc}")
                server.stop()
                continue
            result.notes[name] = server.note
            servers.append(server)
            _log(config, f"  {name}: started in {time.monotonic() - started:.1f} s (pid {server.pid})")
        for round_index in range(config.rounds):
            for index, key in enumerate(config.scenarios):
                scenario = sc.BY_KEY[key]
                shift = (index + round_index) % max(1, len(servers))
                wake = wake_cost(load_cores, target_cores, rounds=1000)  # how dear the machine is now
                for server in servers[shift:] + servers[:shift]:
                    if not sc.applies(scenario, server):  # a peer that is not asked this client API
                        continue
                    row = run_async(
                        sc.measure(
                            server, scenario, upstream_pid=upstream_pid, duration=config.duration, warmup=config.warmup
                        )
                    )
                    row["round"] = round_index
                    row["wake_us"] = None if wake is None else round(wake, 1)
                    result.rows.append(row)
                    _log(config, "  " + describe(row))
        for server in servers:
            server.stop()
    return result


def describe(row: dict) -> str:
    parts = [
        f"{row['target']:<15} {row['scenario']:<11} {row['ok']:>6} ok in {row['elapsed_s']:.2f} s",
        f"{row['rps']:>8.1f} req/s",
        f"p50 {row['p50_ms']} p99 {row['p99_ms']} ms",
    ]
    if row.get("ttfc_p50_ms") is not None:
        parts.append(f"ttfc p50 {row['ttfc_p50_ms']} ms")
    if row.get("cpu_ms_per_req") is not None:
        parts.append(f"cpu {row['cpu_ms_per_req']} ms/req")
    if row.get("nginx_cpu_ms_per_req") is not None:
        parts.append(f"nginx cpu {row['nginx_cpu_ms_per_req']} ms/req")
    if row.get("peak_rss_mb") is not None:
        parts.append(f"rss {row['peak_rss_mb']} MB")
    if row["errors"]:
        parts.append(f"errors {row['errors']}")
    if row.get("wake_us") is not None:
        parts.append(f"cross-core round trip {row['wake_us']} µs CPU")
    return ", ".join(parts)
