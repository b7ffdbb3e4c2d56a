"""The results as markdown: one row per scenario and target with ratios to direct and to the
gateway, the issue's targets checked against the gateway's figures, the machine, and why any
target is missing."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime

from bench.scenarios import BY_KEY, chat_counterpart

GATEWAY = "gateway"
NUMERIC = (
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "ttfc_p50_ms",
    "ttfc_p99_ms",
    "cpu_ms_per_req",
    "peak_rss_mb",
    "elapsed_s",
    "upstream_cpu_share",
    "nginx_cpu_ms_per_req",
    "wake_us",
)


def merge_rounds(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """(scenario, target) -> the median of each figure over rounds; errors summed."""
    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        grouped[(row["scenario"], row["target"])].append(row)
    merged = {}
    for key, group in grouped.items():
        row = dict(group[0])
        for name in NUMERIC:
            values = [r[name] for r in group if r.get(name) is not None]
            row[name] = statistics.median(values) if values else None
        row["ok"] = sum(r["ok"] for r in group)
        row["requests"] = sum(r["requests"] for r in group)
        errors: dict[str, int] = defaultdict(int)
        for r in group:
            for kind, count in r["errors"].items():
                errors[kind] += count
        row["errors"] = dict(errors)
        merged[key] = row
    return merged


def _f(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _ratio(a, b, digits: int = 1) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.{digits}f}×"


def _errors(row: dict) -> str:
    if not row["errors"]:
        return "0"
    return "; ".join(f"{count} {kind}" for kind, count in sorted(row["errors"].items()))


def results_table(merged: dict, targets: list[str], labels: dict[str, str]) -> list[str]:
    lines = [
        "| Scenario | Target | ok / sent | req/s | p50 ms | p95 ms | p99 ms | first chunk p50 ms | CPU ms/req | "
        "peak RSS MB | errors | req/s vs direct | gateway req/s ÷ this | this CPU ÷ gateway CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    scenarios = [key for key in BY_KEY if any((key, t) in merged for t in targets)]
    for key in scenarios:
        direct, gateway = merged.get((key, "direct")), merged.get((key, GATEWAY))
        for target in targets:
            row = merged.get((key, target))
            if row is None:
                continue
            wave = BY_KEY[key].wave
            rate = f"all in {row['elapsed_s']:.2f} s" if wave else _f(row["rps"])
            vs_direct = (
                "–"
                if target == "direct" or not direct
                else (
                    f"{direct['elapsed_s'] / row['elapsed_s']:.2f}×"
                    if wave and row["elapsed_s"]
                    else _ratio(row["rps"], direct["rps"], 2)
                )
            )
            peer = target not in ("direct", GATEWAY) and gateway is not None
            gw_over = _ratio(gateway["rps"], row["rps"]) if peer and not wave else "–"
            cpu_over = _ratio(row.get("cpu_ms_per_req"), gateway.get("cpu_ms_per_req")) if peer else "–"
            lines.append(
                f"| {BY_KEY[key].title} | {labels.get(target, target)} | {row['ok']} / {row['requests']} | {rate} | "
                f"{_f(row['p50_ms'], 2)} | {_f(row['p95_ms'], 2)} | {_f(row['p99_ms'], 2)} | "
                f"{_f(row['ttfc_p50_ms'], 2)} | {_f(row.get('cpu_ms_per_req'), 2)} | {_f(row.get('peak_rss_mb'))} | "
                f"{_errors(row)} | {vs_direct} | {gw_over} | {cpu_over} |"
            )
    return lines


def goals_table(merged: dict) -> list[str]:
    """The issue's "targets to chase", each with the gateway's measured figure."""

    def get(scenario: str, target: str, name: str):
        row = merged.get((scenario, target))
        return None if row is None else row.get(name)

    def check(ok: bool | None) -> str:
        return "–" if ok is None else ("yes" if ok else "no")

    rows = []
    for key in ("chat-c1", "chat-c16", "chat-c64"):
        cpu = get(key, GATEWAY, "cpu_ms_per_req")
        rows.append(
            (f"CPU per request, {BY_KEY[key].title}", "≤ 1 ms", _f(cpu, 2), check(None if cpu is None else cpu <= 1))
        )
    for key in ("stream-c1", "stream-c16", "stream-c64"):
        cpu = get(key, GATEWAY, "cpu_ms_per_req")
        rows.append(
            (f"CPU per stream, {BY_KEY[key].title}", "≤ 3 ms", _f(cpu, 2), check(None if cpu is None else cpu <= 3))
        )
    for q, limit in (("p50_ms", 1.5), ("p99_ms", 4.0)):
        g, d = get("chat-c1", GATEWAY, q), get("chat-c1", "direct", q)
        added = None if g is None or d is None else g - d
        rows.append(
            (
                f"Added latency over direct at concurrency 1, {q[:3]}",
                f"≤ {limit} ms",
                _f(added, 2),
                check(None if added is None else added <= limit),
            )
        )
    for key in ("stream-c1", "stream-c16", "stream-c64"):
        g, d = get(key, GATEWAY, "ttfc_p50_ms"), get(key, "direct", "ttfc_p50_ms")
        added = None if g is None or d is None else g - d
        rows.append(
            (
                f"Time to first chunk over direct, {BY_KEY[key].title} (p50)",
                "≤ 2 ms",
                _f(added, 2),
                check(None if added is None else added <= 2),
            )
        )

    def all_ok(scenario: str) -> bool:  # every request of every round answered
        return get(scenario, GATEWAY, "ok") == get(scenario, GATEWAY, "requests")

    burst = get("burst-200", GATEWAY, "elapsed_s")
    rows.append(
        (
            "200 concurrent requests, upstream 1 s: all done",
            "< 1.5 s",
            _f(burst, 2) + " s" if burst else "–",
            check(None if burst is None else burst < 1.5 and all_ok("burst-200")),
        )
    )
    rss = get("hold-1000", GATEWAY, "peak_rss_mb")
    rows.append(
        (
            "1,000 open streams held 10 s: peak gateway memory",
            "< 300 MB",
            _f(rss) + " MB" if rss else "–",
            check(None if rss is None else rss < 300 and all_ok("hold-1000")),
        )
    )
    for peer, factor in PEER_FACTORS.items():
        ratios = []
        for key, scenario in BY_KEY.items():
            g, p = get(key, GATEWAY, "rps"), get(key, peer, "rps")
            if not scenario.wave and g and p:
                ratios.append(g / p)
        worst = min(ratios) if ratios else None
        rows.append(
            (
                f"Throughput vs {peer}, worst scenario",
                f"≥ {factor}×",
                _f(worst, 1) + "×" if worst else "–",
                check(None if worst is None else worst >= factor),
            )
        )
    lines = ["| Target (issue 8) | Goal | Gateway measured | Met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


PROTOCOL_BUDGET_MS = 0.3  # issue 15: translation costs at most this much CPU per request more than chat


def protocols_table(merged: dict) -> list[str]:
    """Issue 15's figures: the gateway's CPU per Messages / Responses request against the chat
    scenario with the same streaming and concurrency, measured in the same run. Translation may cost
    at most PROTOCOL_BUDGET_MS more; a native pass-through stream no more than a chat stream."""
    lines = []
    for key, scenario in BY_KEY.items():
        row = merged.get((key, GATEWAY))
        if scenario.protocol == "chat" or row is None:
            continue
        cpu = row.get("cpu_ms_per_req")
        counterpart = chat_counterpart(scenario)
        chat = (merged.get((counterpart, GATEWAY)) or {}).get("cpu_ms_per_req")
        extra = None if cpu is None or chat is None else cpu - chat
        if not scenario.model:  # translated
            goal, ok = f"≤ chat + {PROTOCOL_BUDGET_MS} ms", None if extra is None else extra <= PROTOCOL_BUDGET_MS
        elif scenario.stream:
            goal, ok = "≤ chat stream", None if extra is None else extra <= 0
        else:
            goal, ok = "(none)", None
        met = "–" if ok is None else ("yes" if ok else "no")
        lines.append(
            f"| {scenario.title} | {_f(cpu, 2)} | {counterpart or 'none'}: {_f(chat, 2)} | "
            f"{'–' if extra is None else f'{extra:+.2f}'} | {goal} | {met} |"
        )
    if not lines:
        return []
    head = [
        "| Scenario | Gateway CPU ms/req | Chat, same run | Difference ms | Goal | Met |",
        "|---|---|---|---|---|---|",
    ]
    return ["", "## Messages and Responses against chat (issue 15)", "", *head, *lines]


LIMITED_KEY_GOALS_MS = (0.8, 1.5)  # issue 14: CPU per request, per 20-chunk stream, for a limited key
LIMITED_TARGETS = ("gateway-limited", "gateway-limited-redis")
PEER_FACTORS = {"litellm": 10, "g4f": 3}  # issue 14: a limited key's throughput against the peers' (at least)


def limited_key_table(merged: dict, labels: dict[str, str]) -> list[str]:
    """Issue 14's figures: a limited key's CPU per request (rpm, tpm, concurrency and budget counted;
    usage and metrics on) against its goals, beside the plain gateway and the cross-core round trip
    measured before the scenario in the same run; and the limited key's throughput against each
    peer measured in the run (at least PEER_FACTORS times theirs in every scenario)."""
    peers = [peer for peer in PEER_FACTORS if any(target == peer for _, target in merged)]
    lines = []
    worst: dict[str, float] = {}
    for key, scenario in BY_KEY.items():
        if scenario.protocol != "chat" or scenario.wave or scenario.flavour != "fast":
            continue
        goal = LIMITED_KEY_GOALS_MS[1] if scenario.stream else LIMITED_KEY_GOALS_MS[0]
        plain = (merged.get((key, GATEWAY)) or {}).get("cpu_ms_per_req")
        for target in LIMITED_TARGETS:
            row = merged.get((key, target))
            if row is None or row.get("cpu_ms_per_req") is None:
                continue
            cpu = row["cpu_ms_per_req"]
            ratios = []
            for peer in peers:
                theirs = (merged.get((key, peer)) or {}).get("rps")
                ratio = row["rps"] / theirs if theirs and row.get("rps") else None
                if ratio is not None:
                    worst[peer] = min(worst.get(peer, ratio), ratio)
                ratios.append("–" if ratio is None else f"{ratio:.1f}×")
            lines.append(
                f"| {scenario.title} | {labels.get(target, target)} | {_f(cpu, 2)} | ≤ {goal} | "
                f"{'yes' if cpu <= goal else 'no'} | {_f(plain, 2)} | {_f(row.get('wake_us'), 0)} |"
                + "".join(f" {ratio} |" for ratio in ratios)
            )
    if not lines:
        return []
    head = [
        "| Scenario | Target | CPU ms/req | Goal | Met | Gateway without limits | Cross-core round trip, µs CPU |"
        + "".join(f" req/s ÷ {labels.get(peer, peer)}'s |" for peer in peers),
        "|---|---|---|---|---|---|---|" + "---|" * len(peers),
    ]
    summary = [
        f"- Throughput of a limited key against {labels.get(peer, peer)}, worst scenario: {worst[peer]:.1f}× "
        f"(goal ≥ {PEER_FACTORS[peer]}×: {'met' if worst[peer] >= PEER_FACTORS[peer] else 'not met'})"
        for peer in peers
        if peer in worst
    ]
    return ["", "## A limited key (issue 14)", "", *head, *lines, *([""] + summary if summary else [])]


def render(result, *, machine: str, command: str) -> str:
    merged = merge_rounds(result.rows)
    targets = [t for t in result.config.targets if t not in result.missing]
    from bench.targets import all_servers

    registry = all_servers()
    labels = {name: cls.label for name, cls in registry.items()}
    loads = [r["load_before"] for r in result.rows] + [r["load_after"] for r in result.rows]
    upstream_share = max(
        (r.get("upstream_cpu_share") or 0 for r in result.rows if r["target"] == "direct"), default=None
    )
    lines = [
        f"# Benchmark results, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"- Machine: {machine}",
        f"- Command: `{command}`",
        f"- Load average (1/5/15 min) seen during the run: from {min(loads) if loads else '?'} to "
        f"{max(loads) if loads else '?'} (other work on the machine makes figures noisy)",
        f"- Pinning: load generator and fake upstream on one core, target on another; one worker each. "
        f"Measured window per closed-loop scenario: {result.config.duration:g} s after {result.config.warmup:g} s "
        f"warm-up; {result.config.rounds} round(s), targets interleaved; medians over rounds.",
        "- CPU ms/req: the target's process tree CPU time (user + system, /proc) over the window ÷ requests served.",
    ]
    wakes = [r["wake_us"] for r in result.rows if r.get("wake_us") is not None]
    if wakes:
        lines.append(
            f"- A round trip between the two cores (one byte each way, `bench.system.wake_cost`) cost the "
            f"target's side {min(wakes):.0f}–{max(wakes):.0f} µs of CPU during the run: each exchange a request "
            f"needs with another process (client, upstream, Redis) costs about that much of its CPU figure."
        )
    if upstream_share:
        lines.append(
            f"- The fake upstream used at most {upstream_share:.0%} of its core during the direct runs "
            f"(it is not the bottleneck of the proxied runs, which are far slower)."
        )
    for name in targets:
        if result.notes.get(name):
            lines.append(f"- {labels.get(name, name)}: {result.notes[name]}")
    for name, why in result.missing.items():
        lines.append(f"- **{labels.get(name, name)} not measured:** {why}")
    lines += ["", "## Results", ""] + results_table(merged, targets, labels)
    proxied = [(key, row) for key, row in sorted(merged.items()) if row.get("nginx_cpu_ms_per_req") is not None]
    if proxied:
        lines += ["", "nginx in front of `gateway-pair`, CPU ms per request (not in the table's figure): "]
        lines[-1] += "; ".join(
            f"{BY_KEY[scenario].title}: {_f(row['nginx_cpu_ms_per_req'], 2)}" for (scenario, _), row in proxied
        )
    lines += ["", "## The issue's targets, for the gateway", ""] + goals_table(merged)
    lines += protocols_table(merged)
    lines += limited_key_table(merged, labels)
    return "\n".join(lines) + "\n"
