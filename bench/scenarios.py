"""The benchmark's scenarios and how one is measured against one target.

Most scenarios speak chat completions. The Messages and Responses scenarios (issue 15) send those
APIs' requests to the gateway, to a model served by a chat upstream (translated both ways) or by an
upstream speaking the same API (native pass-through: `bench-claude` on an `anthropic` provider,
`bench-responses` on a provider with the `responses` capability; `targets/gateway.py` imports them).
They run against the gateway targets and, as the floor, `direct` and `forwarder` (where the fake
upstream answers the same API itself); the peers are skipped (`applies`).

A measurement runs the load, and meanwhile reads the target's process tree from /proc: CPU time
before and after the measured window (divided by the requests served: CPU per request, the figure
that does not depend on how fast the shared load generator is) and resident memory every 50 ms
(its peak). The fake upstream's CPU is read too, to show it was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from bench import loadgen
from bench.system import cpu_seconds, load_average, process_tree, rss_bytes
from bench.targets import Server

CHAT, MESSAGES, RESPONSES = "chat", "messages", "responses"
ANTHROPIC_VERSION = ("anthropic-version", "2023-06-01")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    flavour: str  # fake upstream timing: "fast", "slow" (1 s delay) or "hold" (10 s stream)
    stream: bool
    concurrency: int
    wave: bool = False  # all requests at once on open connections, instead of a closed loop
    protocol: str = CHAT  # the client API: chat, messages (Anthropic) or responses
    model: str = ""  # the model to ask for, when not the target's model for the flavour (native routes)


def _protocol_scenarios() -> list[Scenario]:
    """Messages and Responses, translated and native, streaming and not, at concurrency 16."""
    routes = [
        (MESSAGES, "messages", "Messages → chat upstream (translated)", ""),
        (MESSAGES, "messages-native", "Messages → Anthropic upstream (native)", "bench-claude"),
        (RESPONSES, "responses", "Responses → chat upstream (translated)", ""),
        (RESPONSES, "responses-native", "Responses → Responses upstream (native)", "bench-responses"),
    ]
    return [
        Scenario(
            f"{prefix}{'-stream' if stream else ''}-c16",
            f"{title}, {'streaming (20 deltas)' if stream else 'non-streaming'}, concurrency 16",
            "fast",
            stream,
            16,
            protocol=protocol,
            model=model,
        )
        for protocol, prefix, title, model in routes
        for stream in (False, True)
    ]


SCENARIOS = [
    Scenario("chat-c1", "non-streaming, concurrency 1", "fast", False, 1),
    Scenario("chat-c16", "non-streaming, concurrency 16", "fast", False, 16),
    Scenario("chat-c64", "non-streaming, concurrency 64", "fast", False, 64),
    Scenario("stream-c1", "streaming (20 chunks), concurrency 1", "fast", True, 1),
    Scenario("stream-c16", "streaming (20 chunks), concurrency 16", "fast", True, 16),
    Scenario("stream-c64", "streaming (20 chunks), concurrency 64", "fast", True, 64),
    Scenario("burst-200", "200 concurrent requests, upstream answers after 1 s", "slow", False, 200, wave=True),
    Scenario("hold-1000", "1,000 concurrent streams held 10 s", "hold", True, 1000, wave=True),
    *_protocol_scenarios(),
]
BY_KEY = {scenario.key: scenario for scenario in SCENARIOS}
PROTOCOL_FLOORS = ("direct", "forwarder")  # they pass any API through to the fake upstream


def applies(scenario: Scenario, server: Server) -> bool:
    """Whether `scenario` is measured against `server`: chat everywhere; the other client APIs on
    the gateway targets and the floors."""
    return scenario.protocol == CHAT or server.name in PROTOCOL_FLOORS or server.name.startswith("gateway")


def chat_counterpart(scenario: Scenario) -> str | None:
    """The chat scenario a Messages or Responses one is read against: same streaming, concurrency
    and upstream timing, closed loop."""
    for key, other in BY_KEY.items():
        if (
            other.protocol == CHAT
            and not other.wave
            and (other.stream, other.concurrency, other.flavour)
            == (
                scenario.stream,
                scenario.concurrency,
                scenario.flavour,
            )
        ):
            return key
    return None


def protocol_target(target: loadgen.Target, protocol: str) -> loadgen.Target:
    """`target` (a server's chat completions URL) moved to the same base's Messages or Responses API."""
    if protocol == CHAT:
        return target
    base = target.url.removesuffix("/chat/completions")
    if protocol == MESSAGES:
        headers = (*target.headers, ANTHROPIC_VERSION)
        return dataclasses.replace(target, url=base + "/messages", headers=headers, answer=loadgen.MESSAGES_ANSWER)
    return dataclasses.replace(target, url=base + "/responses", answer=loadgen.RESPONSES_ANSWER)


def request_body(server: Server, scenario: Scenario) -> dict:
    """One request of `scenario` as `server` takes it."""
    model = scenario.model or server.model(scenario.flavour)
    if scenario.protocol == MESSAGES:
        return loadgen.messages_body(model, stream=scenario.stream)
    if scenario.protocol == RESPONSES:
        return loadgen.responses_body(model, stream=scenario.stream)
    return loadgen.chat_body(model, stream=scenario.stream, extra=server.body_extra(scenario.flavour))


class Sampler:
    """CPU time and peak memory of named groups of process trees over a window (a group's trees summed)."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.roots = {name: [pid for pid in roots if pid] for name, roots in pids.items()}
        self.trees = {
            name: [member for pid in roots for member in process_tree(pid)]
            for name, roots in self.roots.items()
            if roots
        }
        self.cpu_start: dict[str, float] = {}
        self.cpu_end: dict[str, float] = {}
        self.peak_rss: dict[str, int] = {name: rss_bytes(tree) for name, tree in self.trees.items()}
        self._task: asyncio.Task | None = None

    def mark_start(self) -> None:
        self.cpu_start = {name: cpu_seconds(tree) for name, tree in self.trees.items()}

    def mark_end(self) -> None:
        self.cpu_end = {name: cpu_seconds(tree) for name, tree in self.trees.items()}

    def cpu(self, name: str) -> float | None:
        if name not in self.cpu_start or name not in self.cpu_end:
            return None
        return self.cpu_end[name] - self.cpu_start[name]

    async def _watch(self) -> None:
        while True:
            for name, tree in self.trees.items():
                self.peak_rss[name] = max(self.peak_rss[name], rss_bytes(tree))
            await asyncio.sleep(0.05)

    def __enter__(self) -> Sampler:
        self._task = asyncio.ensure_future(self._watch())
        return self

    def __exit__(self, *exc) -> None:
        if self._task is not None:
            self._task.cancel()


async def measure(server: Server, scenario: Scenario, *, upstream_pid: int, duration: float, warmup: float) -> dict:
    """Run one scenario against one started target; return a result row (plain data)."""
    target = protocol_target(server.target(scenario.flavour), scenario.protocol)
    body = request_body(server, scenario)
    load_before = load_average()
    measured = server.measured_pids()
    sampler = Sampler({**measured, "upstream": [upstream_pid]})
    with sampler:
        if scenario.wave:
            if warmup:  # a few requests first, so connection pools and lazy imports are warm
                await loadgen.closed_loop(
                    server.target("fast"),
                    loadgen.chat_body(server.model("fast"), stream=scenario.stream, extra=server.body_extra("fast")),
                    concurrency=4,
                    duration=0.0,
                    warmup=min(warmup, 1.0),
                )
            timeout = 30.0  # a held stream lasts 10 s; a target needing 3x that has failed the scenario
            result = await loadgen.wave(
                target, body, count=scenario.concurrency, timeout=timeout, on_sent=sampler.mark_start
            )
        else:
            loop = asyncio.get_running_loop()
            loop.call_later(warmup, sampler.mark_start)
            result = await loadgen.closed_loop(
                target, body, concurrency=scenario.concurrency, duration=duration, warmup=warmup
            )
        sampler.mark_end()
        await asyncio.sleep(0.06)  # one more memory sample after the end
    row = {
        "target": server.name,
        "scenario": scenario.key,
        **result.summary(),
        "load_before": load_before,
        "load_after": load_average(),
    }
    target_cpu, upstream_cpu = sampler.cpu("target"), sampler.cpu("upstream")
    served = max(result.ok, 1)
    if target_cpu is not None and server.name != "direct":
        row["cpu_ms_per_req"] = round(target_cpu * 1000 / served, 3)
        row["peak_rss_mb"] = round(sampler.peak_rss["target"] / 2**20, 1)
    for name in measured.keys() - {"target"}:  # helpers measured apart, e.g. the reverse proxy
        if sampler.cpu(name) is not None:
            row[f"{name}_cpu_ms_per_req"] = round(sampler.cpu(name) * 1000 / served, 3)
    if upstream_cpu is not None:
        row["upstream_cpu_ms_per_req"] = round(upstream_cpu * 1000 / served, 3)
        row["upstream_cpu_share"] = round(upstream_cpu / result.elapsed, 3) if result.elapsed else None
        if server.name == "direct":
            row["peak_rss_mb"] = round(sampler.peak_rss["upstream"] / 2**20, 1)
    return row
