"""Run the benchmark: the gateway against direct access, LiteLLM and g4f, side by side.

    .venv/bin/python -m bench.run             # everything (~10 min; peers' venvs are created once)
    .venv/bin/python -m bench.run --quick     # short windows (~4 min)
    .venv/bin/python -m bench.run --targets direct,gateway --scenarios chat-c1,burst-200

Prints a markdown table and saves it under bench/results/ (a timestamped file and latest.md, plus
the raw rows as JSON). Every process it starts is stopped at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from datetime import UTC, datetime

from bench import harness, report
from bench.scenarios import SCENARIOS
from bench.system import machine_description
from bench.targets import BENCH_DIR, all_servers

DEFAULT_TARGETS = ["direct", "forwarder", "gateway", "litellm", "g4f"]
RESULTS_DIR = BENCH_DIR / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = list(all_servers())
    parser.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help=f"comma-separated, from: {', '.join(names)} (default: %(default)s)",
    )
    parser.add_argument(
        "--scenarios", default=",".join(s.key for s in SCENARIOS), help="comma-separated (default: all): %(default)s"
    )
    parser.add_argument("--quick", action="store_true", help="2 s windows after 0.5 s warm-up")
    parser.add_argument("--duration", type=float, help="seconds measured per closed-loop scenario (default 5)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the scenario sweep; medians are reported")
    parser.add_argument("--no-save", action="store_true", help="print the table, do not write bench/results/")
    parser.add_argument(
        "--render",
        metavar="RUN.json",
        help="print the table of a saved run (bench/results/<stamp>.json) again; runs nothing",
    )
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [t for t in args.targets if t not in names] + [
        s for s in args.scenarios if s not in {x.key for x in SCENARIOS}
    ]
    if unknown:
        parser.error(f"unknown target or scenario: {', '.join(unknown)}")
    return args


def render_saved(path: str) -> int:
    """Print the table of a saved run again (after a change to the report, say)."""
    saved = json.loads(open(path).read())
    config = (
        harness.RunConfig(**saved["config"])
        if "config" in saved
        else harness.RunConfig(
            targets=list(dict.fromkeys(row["target"] for row in saved["rows"])),
            scenarios=list(dict.fromkeys(row["scenario"] for row in saved["rows"])),
            rounds=1 + max(row.get("round", 0) for row in saved["rows"]),
        )
    )
    result = harness.RunResult(config, rows=saved["rows"], missing=saved["missing"], notes=saved["notes"])
    print(report.render(result, machine=machine_description(), command=saved.get("command", "(saved run)")))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render_saved(args.render)
    duration = args.duration or (2.0 if args.quick else 5.0)
    config = harness.RunConfig(
        targets=args.targets,
        scenarios=args.scenarios,
        duration=duration,
        warmup=0.5 if args.quick else 1.0,
        rounds=args.rounds,
    )
    command = ".venv/bin/python -m bench.run " + shlex.join(argv if argv is not None else sys.argv[1:])
    try:
        result = harness.run(config)
    except KeyboardInterrupt:
        print("interrupted; every process the benchmark started has been stopped", file=sys.stderr)
        return 130
    text = report.render(result, machine=machine_description(), command=command.strip())
    print(text)
    if not args.no_save:
        RESULTS_DIR.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        (RESULTS_DIR / f"{stamp}.md").write_text(text)
        (RESULTS_DIR / "latest.md").write_text(text)
        (RESULTS_DIR / f"{stamp}.json").write_text(
            json.dumps(
                {
                    "rows": result.rows,
                    "missing": result.missing,
                    "notes": result.notes,
                    "command": command.strip(),
                    "config": dataclasses.asdict(config),
                },
                indent=1,
            )
        )
        print(f"saved bench/results/{stamp}.md and bench/results/latest.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
