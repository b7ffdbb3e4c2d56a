"""Profile the gateway under load with py-spy and print where its CPU goes.

    .venv/bin/python -m bench.profile [--scenario chat-c16] [--seconds 8] [--top 40]

Starts the fake upstream and the gateway as the benchmark does, installs py-spy into
bench/.venvs/tools if needed, samples the gateway process while the scenario's load runs, and
prints the functions with the most samples, inclusive ("in") and exclusive ("self"). The raw
collapsed stacks are kept in bench/.work/profile-<scenario>.txt (load them in speedscope.app).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter

from bench import loadgen
from bench import scenarios as sc
from bench.harness import start_upstream
from bench.peers import ensure_venv
from bench.procs import Processes
from bench.system import core_plan, raise_nofile, run_async
from bench.targets import WORK_DIR
from bench.targets.gateway import Gateway, GatewayLimited


def summarize(collapsed: str, top: int) -> str:
    inclusive, exclusive, total = Counter(), Counter(), 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += samples
        exclusive[frames[-1]] += samples
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in exclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="chat-c16", choices=[s.key for s in sc.SCENARIOS])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--limited", action="store_true", help="a limited key (Redis with BENCH_LIMITS_REDIS_URL, else the file store)"
    )
    args = parser.parse_args(argv)
    py_spy = ensure_venv("tools", ["py-spy==0.4.3"]) / "bin" / "py-spy"
    raise_nofile()
    scenario = sc.BY_KEY[args.scenario]
    load_cores, target_cores = core_plan()
    output = WORK_DIR / f"profile-{scenario.key}.txt"
    with Processes(WORK_DIR / "logs") as procs:
        upstream_port, _ = start_upstream(procs, load_cores)
        gateway = GatewayLimited() if args.limited else Gateway()
        gateway.start(procs, upstream_port, target_cores)
        warm = loadgen.chat_body(gateway.model("fast"), stream=scenario.stream)
        run_async(loadgen.closed_loop(gateway.target("fast"), warm, concurrency=4, duration=0, warmup=1.0))
        body = sc.request_body(gateway, scenario)
        target = sc.protocol_target(gateway.target(scenario.flavour), scenario.protocol)
        spy = subprocess.Popen(
            [
                str(py_spy),
                "record",
                "-p",
                str(gateway.pid),
                "-d",
                str(int(args.seconds)),
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                str(output),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)
        if scenario.wave:
            result = run_async(loadgen.wave(target, body, count=scenario.concurrency, timeout=60))
        else:
            result = run_async(
                loadgen.closed_loop(target, body, concurrency=scenario.concurrency, duration=args.seconds - 1, warmup=0)
            )
        spy.wait(args.seconds + 30)
    print(
        f"{scenario.title}: {result.ok} ok, {result.rps:.0f} req/s while sampled, {result.elapsed:.2f} s; "
        f"errors {dict(result.errors)}"
    )
    if not output.exists():
        print(f"py-spy wrote nothing: {spy.stderr.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    print(summarize(output.read_text(), args.top))
    print(f"\ncollapsed stacks: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
