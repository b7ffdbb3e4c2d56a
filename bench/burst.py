"""200 concurrent requests through one gateway process against an upstream that answers after 1 s.

    .venv/bin/python -m bench.burst [--count 200] [--server uvicorn|daphne]

Starts the bench fake upstream and the gateway (auth on, catalogue imported, one process), sends
`--count` non-streaming requests at the same instant on already-open connections, and prints how
long until the last one was answered. Nothing may queue behind threads: with an async request path
the figure stays near the upstream's 1 s, not count x 1 s.
"""

from __future__ import annotations

import argparse
import sys

from bench import harness
from bench.scenarios import SCENARIOS, Scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    args = parser.parse_args(argv)
    base = next(s for s in SCENARIOS if s.key == "burst-200")
    if args.count != base.concurrency:
        harness.sc.BY_KEY[base.key] = Scenario(base.key, base.title, base.flavour, base.stream, args.count, wave=True)
    target = "gateway" if args.server == "uvicorn" else "gateway-daphne"
    config = harness.RunConfig(targets=[target], scenarios=[base.key], warmup=1.0, verbose=False)
    try:
        result = harness.run(config)
    except KeyboardInterrupt:
        return 130
    if result.missing:
        print(f"The gateway could not be started: {result.missing[target]}", file=sys.stderr)
        return 1
    row = result.rows[0]
    failed = row["requests"] - row["ok"]
    print(
        f"{row['ok']} of {row['requests']} concurrent requests through one gateway process ({args.server}) against "
        f"an upstream that answers after 1 s: all done in {row['elapsed_s']:.2f} s "
        f"(latency p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms, max {row['max_ms']:.0f} ms; "
        f"gateway CPU {row.get('cpu_ms_per_req', 0):.2f} ms per request; load average {row['load_before']})"
        + (f"; {failed} failed: {row['errors']}" if failed else "")
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
