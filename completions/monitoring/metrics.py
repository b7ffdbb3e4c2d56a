"""Prometheus metrics, served by `GET /metrics` (completions.monitoring.views).

Request metrics are observed by the usage writer thread from the usage rows it writes
(`usage_observe`), never on the request path: a request costs one queue append whether metrics are
scraped or not, and a metric lags the request by at most `USAGE_FLUSH_INTERVAL`. `g4f_provider_up`
is computed at scrape time from the catalogue, the same state `/v1/providers` shows.

Under `g4f api --workers N`, `g4fsite.api` points `PROMETHEUS_MULTIPROC_DIR` at an emptied
directory before the workers start; each worker then keeps its values in files there and a scrape,
whichever worker answers it, sums them (prometheus-client's multiprocess mode).
"""

import os
import time
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from catalogue.provider_state import provider_entry_state
from catalogue.selectors import catalogue_snapshot
from g4fsite.conf import gateway_settings

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REGISTRY = CollectorRegistry(auto_describe=True)
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)

REQUESTS = Counter(
    "g4f_requests",
    "Requests answered, by endpoint, provider, model and HTTP status.",
    ["endpoint", "provider", "model", "status"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "g4f_request_duration_seconds",
    "Time from the request to the end of its answer (or stream).",
    ["endpoint", "provider"],
    buckets=_DURATION_BUCKETS,
    registry=REGISTRY,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "g4f_time_to_first_token_seconds",
    "Streams: time from the request to the first piece sent to the client.",
    ["endpoint", "provider"],
    buckets=_TTFT_BUCKETS,
    registry=REGISTRY,
)
TOKENS = Counter(
    "g4f_tokens", "Tokens, by direction (prompt or completion).", ["direction", "provider", "model"], registry=REGISTRY
)
COST = Counter("g4f_cost_usd", "Cost in USD, from the catalogue's prices.", ["provider", "model"], registry=REGISTRY)
RATE_LIMITED = Counter("g4f_rate_limited", "Requests refused with 429, by reason.", ["reason"], registry=REGISTRY)


def rate_limited(reason: str) -> None:
    """Count one request refused with 429 (`rpm`, `tpm`, `concurrency`, `budget`; `upstream` is counted
    from the usage rows)."""
    RATE_LIMITED.labels(reason).inc()


def _model_label(model: str, provider: str, known: Any) -> str:
    """A model name a client made up (refused before routing) would make a new series per name."""
    return model if provider or known(model) is not None else "other"


def usage_observe(rows: Iterable[dict[str, Any]]) -> None:
    """Observe the metrics of written usage rows (the usage writer calls this). Rows are grouped by
    label values first: one `labels()` lookup per series and batch, not several per row."""
    known = catalogue_snapshot().model
    requests: Tally[tuple[str, ...]] = Tally()
    tokens: Tally[tuple[str, ...]] = Tally()
    cost: Tally[tuple[str, ...]] = Tally()
    durations: defaultdict[tuple[str, ...], list[float]] = defaultdict(list)
    first_tokens: defaultdict[tuple[str, ...], list[float]] = defaultdict(list)
    upstream_limited = 0
    for row in rows:
        provider, endpoint = row.get("provider") or "", row.get("endpoint") or ""
        model = _model_label(row.get("model") or "", provider, known)
        status = row.get("status_code") or 0
        requests[endpoint, provider, model, str(status)] += 1
        durations[endpoint, provider].append((row.get("latency_ms") or 0) / 1000)
        ttft = row.get("ttft_ms")
        if ttft is not None:
            first_tokens[endpoint, provider].append(ttft / 1000)
        if row.get("prompt_tokens"):
            tokens["prompt", provider, model] += row["prompt_tokens"]
        if row.get("completion_tokens"):
            tokens["completion", provider, model] += row["completion_tokens"]
        if row.get("cost"):
            cost[provider, model] += row["cost"]
        upstream_limited += status == 429
    for labels, count in requests.items():
        REQUESTS.labels(*labels).inc(count)
    for histogram, series in ((DURATION, durations), (TIME_TO_FIRST_TOKEN, first_tokens)):
        for labels, values in series.items():
            child = histogram.labels(*labels)
            for value in values:
                child.observe(value)
    for labels, count in tokens.items():
        TOKENS.labels(*labels).inc(count)
    for labels, amount in cost.items():
        COST.labels(*labels).inc(amount)
    if upstream_limited:
        RATE_LIMITED.labels("upstream").inc(upstream_limited)


class ProviderUpCollector:
    """`g4f_provider_up{provider}`: 1 while routing may use the provider (its state is `working`)."""

    def collect(self):
        family = GaugeMetricFamily("g4f_provider_up", "1 when the provider is working, else 0.", labels=["provider"])
        ignored = {name.lower() for name in gateway_settings.IGNORED_PROVIDERS}
        now = time.time()
        for provider in catalogue_snapshot().providers.values():
            state = provider_entry_state(provider, ignored=provider.name.lower() in ignored, now=now)
            family.add_metric([provider.name], 1.0 if state.working else 0.0)
        yield family

    def describe(self):
        return []


REGISTRY.register(ProviderUpCollector())


def multiprocess_dir() -> str:
    """The directory of prometheus-client's multiprocess mode, or "" when off."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "") or os.environ.get("prometheus_multiproc_dir", "")


def metrics_exposition() -> bytes:
    """Every metric in Prometheus' text format: this process's, or under `--workers` every worker's."""
    if not multiprocess_dir():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(ProviderUpCollector())
    return generate_latest(registry)
