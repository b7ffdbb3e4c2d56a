"""Instructions per request of the gateway's own code, counted by valgrind (cachegrind): the same
in-process driver as `bench.inprocess`, run under `valgrind --tool=cachegrind --cache-sim=no`.

    .venv/bin/python -m bench.instructions [--only "chat,chat stream"] [--limited]
    BENCH_BASELINE_SRC=/tmp/old .venv/bin/python -m bench.instructions      # before and after

CPU time on this VM moves by 10-30% with the load of its neighbours, which hides a change of a few
percent; an instruction count does not move with it (the same tree twice: within about 1%). Each
tree and scenario runs twice, with `--requests` and with five times as many after the same warm-up,
and the difference is divided by the extra requests, so start-up cancels out. Python runs about 50
times slower under valgrind: a scenario takes a minute. What depends on timing (how many rows a
usage flush writes, how many stream events arrive in one read) is not what it is in real time, so
the figures compare trees; CPU time (`bench.run`) remains the figure the targets are set in.
Needs Debian's `valgrind`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

from bench.harness import start_upstream
from bench.inprocess import DRIVER, SCENARIOS
from bench.procs import Processes
from bench.targets import REPO_DIR, WORK_DIR
from bench.targets.gateway import SOURCE_DIR, UNREACHED_LIMITS, prepare_data_dir

WARM_UP = 50


def instructions(source: str, env: dict[str, str], key: str, label: str, requests: int, concurrency: int) -> int:
    """Instructions of one driver process serving `WARM_UP` then `requests` requests of `label`."""
    out_file = WORK_DIR / f"cachegrind-{os.getpid()}.out"
    feed = json.dumps([label, WARM_UP]) + "\n" + json.dumps([label, requests]) + "\n"
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out_file}"]
    payload = json.dumps([key, concurrency, SCENARIOS])
    run = subprocess.run(
        [*command, sys.executable, "-c", DRIVER, payload],
        input=feed,
        env=env,
        cwd=source,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    out_file.unlink(missing_ok=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode != 0 or not found:
        raise SystemExit(f"the driver failed under valgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100, help="the shorter run (the longer: five times)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limited", action="store_true", help="a key with every limit set (never reached)")
    parser.add_argument("--only", default="chat,chat stream", help="comma-separated scenario labels")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    trees = [("now", SOURCE_DIR)]
    if os.environ.get("BENCH_BASELINE_SRC"):
        trees.insert(0, ("baseline", os.environ["BENCH_BASELINE_SRC"]))
    labels = [label for label, *_ in SCENARIOS if label in args.only.split(",")]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, float]] = {tree: {} for tree, _ in trees}
    with Processes(WORK_DIR / f"instructions-{os.getpid()}") as procs:
        port, _ = start_upstream(procs, None)
        for tree, source in trees:
            env, key = prepare_data_dir(
                f"instructions-{tree}", port, source, *(UNREACHED_LIMITS if args.limited else ())
            )
            native = os.path.realpath(source) == os.path.realpath(REPO_DIR)
            for label in labels:
                if not native and not label.startswith("chat"):
                    continue  # an older tree may not know the native providers
                short = instructions(source, env, key, label, args.requests, args.concurrency)
                long = instructions(source, env, key, label, 5 * args.requests, args.concurrency)
                figures[tree][label] = (long - short) / (4 * args.requests)
    print("| scenario | " + " | ".join(f"{tree}: k instructions/req" for tree in figures) + " |")
    print("|---" * (len(figures) + 1) + "|")
    for label in labels:
        cells = [f"{figures[tree][label] / 1000:,.0f}" if label in figures[tree] else "–" for tree in figures]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
