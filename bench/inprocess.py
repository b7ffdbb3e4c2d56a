"""CPU per request of the gateway's own code, in process: the ASGI application driven directly (no
HTTP server, no load generator), calling the bench fake upstream over loopback.

    .venv/bin/python -m bench.inprocess [--requests 1000] [--concurrency 16] [--limited] [--rounds 7]
    .venv/bin/python -m bench.inprocess --limited-now     # what a limited key costs: unlimited vs limited

`bench.run` measures what an operator gets (uvicorn, sockets, a load generator on the same two
cores) and varies by 10-30% from run to run on this VM; this leaves out everything but the
application and its upstream client, so it moves by a few percent: the figure to compare commits
by (`BENCH_GATEWAY_SRC`, and `BENCH_BASELINE_SRC` to run an older tree in the same invocation).
It prints µs of CPU per request for chat (non-streaming and a 20-chunk stream) and, for trees that
have them, the Messages and Responses APIs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench.harness import start_upstream
from bench.loadgen import chat_body, messages_body, responses_body
from bench.procs import Processes
from bench.system import core_plan
from bench.targets import REPO_DIR, WORK_DIR
from bench.targets.gateway import SOURCE_DIR, UNREACHED_LIMITS, prepare_data_dir

# (label, path, body, stream); the native scenarios need a tree that knows those providers.
SCENARIOS = [
    ("chat", "/v1/chat/completions", chat_body("bench-fast", stream=False), False),
    ("chat stream", "/v1/chat/completions", chat_body("bench-fast", stream=True), True),
    ("messages", "/v1/messages", messages_body("bench-fast", stream=False), False),
    ("messages stream", "/v1/messages", messages_body("bench-fast", stream=True), True),
    ("messages native stream", "/v1/messages", messages_body("bench-claude", stream=True), True),
    ("responses", "/v1/responses", responses_body("bench-fast", stream=False), False),
    ("responses stream", "/v1/responses", responses_body("bench-fast", stream=True), True),
    ("responses native", "/v1/responses", responses_body("bench-responses", stream=False), False),
    ("responses native stream", "/v1/responses", responses_body("bench-responses", stream=True), True),
]

DRIVER = r"""
import asyncio, json, sys, time
import uvloop
from g4fsite.asgi import application

key, concurrency, scenarios = json.loads(sys.argv[1])
scenarios = {label: (path, json.dumps(body).encode(), stream) for label, path, body, stream in scenarios}


async def one(path, body):
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"authorization", b"Bearer " + key.encode()), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 1337)}
    done = asyncio.Event()
    state = {"sent": False, "status": 0}

    async def receive():
        if not state["sent"]:
            state["sent"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
        elif not message.get("more_body"):
            done.set()

    await application(scope, receive, send)
    done.set()
    if state["status"] != 200:
        raise RuntimeError(f"{path} answered {state['status']}")


async def batch(label, count):
    path, body, _ = scenarios[label]
    queue = iter(range(count))

    async def worker():
        for _ in queue:
            await one(path, body)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def main():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        label, count = json.loads(line)
        try:
            started = time.process_time()
            await batch(label, count)
            answer = (time.process_time() - started) / count * 1e6
        except RuntimeError as exc:
            answer = str(exc)
        await asyncio.sleep(0.6)  # the usage writer's flush of these requests is counted by the next round
        print(json.dumps(answer), flush=True)


uvloop.run(main())
"""


class Driver:
    """One gateway source tree in a driver process, pinned to the target core, run round by round."""

    def __init__(self, source: str, name: str, upstream_port: int, cores, args, limited: bool) -> None:
        env, key = prepare_data_dir(name, upstream_port, source, *(UNREACHED_LIMITS if limited else ()))
        if args.redis_url:
            env["REDIS_URL"] = args.redis_url
        self.native = os.path.realpath(source) == os.path.realpath(REPO_DIR)
        payload = json.dumps([key, args.concurrency, SCENARIOS])
        pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, payload],
            cwd=source,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=pin,
        )

    def run(self, label: str, count: int):
        self.proc.stdin.write(json.dumps([label, count]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the driver stopped (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="per round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--limited", action="store_true", help="a key with every limit set (never reached)")
    parser.add_argument(
        "--limited-now", action="store_true", help="the limited key for the tree under test only (its cost)"
    )
    parser.add_argument("--redis-url", default="", help="REDIS_URL for the gateway (a server the caller runs)")
    parser.add_argument("--only", default="", help="comma-separated scenario labels")
    args = parser.parse_args(argv)
    load_cores, target_cores = core_plan()
    trees = [("now", SOURCE_DIR)]
    if os.environ.get("BENCH_BASELINE_SRC") or args.limited_now:
        trees.insert(0, ("baseline", os.environ.get("BENCH_BASELINE_SRC") or SOURCE_DIR))
    labels = [label for label, *_ in SCENARIOS if not args.only or label in args.only.split(",")]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, list]] = {tree: {label: [] for label in labels} for tree, _ in trees}
    with Processes(WORK_DIR / f"inprocess-{os.getpid()}") as procs:
        port, _ = start_upstream(procs, load_cores)
        drivers = {
            tree: Driver(
                source,
                f"inprocess-{tree}",
                port,
                target_cores,
                args,
                args.limited or tree == "now" and args.limited_now,
            )
            for tree, source in trees
        }
        try:
            for label in labels:
                runnable = [t for t, d in drivers.items() if d.native or label.startswith("chat")]
                for tree in runnable:
                    drivers[tree].run(label, min(300, 10 * args.requests))  # warm-up
                for _ in range(args.rounds):  # interleaved: the trees see the same machine speed
                    for tree in runnable:
                        figures[tree][label].append(drivers[tree].run(label, args.requests))
        finally:
            for driver in drivers.values():
                driver.close()
    print("| scenario | " + " | ".join(f"{tree} µs CPU/req" for tree in figures) + " |")
    print("|---" * (len(figures) + 1) + "|")
    for label in labels:
        cells = []
        for tree in figures:
            values = [v for v in figures[tree][label] if isinstance(v, float)]
            cells.append(f"{sorted(values)[len(values) // 2]:.0f}" if values else "–")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
