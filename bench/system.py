"""What the harness reads from the machine: CPU time and memory of a process tree (from /proc, no
psutil needed), core pinning, the open-files limit, what a wake-up across cores costs, and a
description of the machine for results."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import socket
import sys
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def run_async(coro):
    """asyncio.run on uvloop when it is installed (the load generator needs the speed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def wake_cost(load_cores: set[int] | None, target_cores: set[int] | None, rounds: int = 2000) -> float | None:
    """CPU µs that a process on the target core spends per round trip of one byte each way with a
    process on the load core (a socket pair): what waking another core and being woken costs. On a
    machine where that is dear (this VM: 40-200 µs, moving with the host's load, against ~10 µs on
    one core), every exchange a request needs with another process shows in its CPU figure."""
    if not load_cores or not target_cores:
        return None
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:  # the echo, on the load core
        try:
            os.sched_setaffinity(0, load_cores)
            for _ in range(rounds):
                theirs.sendall(theirs.recv(1))
        finally:
            os._exit(0)
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, target_cores)
        started = time.process_time()
        for _ in range(rounds):
            ours.sendall(b"x")
            ours.recv(1)
        return (time.process_time() - started) / rounds * 1e6
    finally:
        os.sched_setaffinity(0, before)
        os.waitpid(child, 0)
        ours.close()
        theirs.close()


def raise_nofile(wanted: int = 16384) -> int:
    """Raise this process's open-files limit as far as allowed (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def core_plan() -> tuple[set[int] | None, set[int] | None]:
    """(load side, target side) CPU sets: load generator + fake upstream on the first core, the
    target on the second, as the issue asks. None means "no pinning" (fewer than two cores)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or os.environ.get("BENCH_PIN") == "0":  # BENCH_PIN=0: every process on every core
        return None, None
    return {cores[0]}, {cores[1]}


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a server with worker processes counts as one target)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, ()))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (their own, not reaped children's)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes, summed."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except OSError:
            continue
    return total


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        memory = "unknown RAM"
    cores = len(os.sched_getaffinity(0))
    return (
        f"{cpu}, {cores} cores available, {memory}; {platform.system()} {platform.release()}; "
        f"Python {sys.version.split()[0]}"
    )
