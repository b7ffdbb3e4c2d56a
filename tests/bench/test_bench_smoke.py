"""The benchmark harness at tiny scale, so it cannot rot silently: the fast fake upstream, the load
generator, the gateway target (migrated, catalogue imported, auth on, served by uvicorn in its own
process) and the report, end to end. No peers (LiteLLM, g4f): they need their own venvs."""

import os

import pytest

from bench import harness, report
from bench.scenarios import BY_KEY, Scenario
from bench.system import machine_description
from bench.targets.redis_limited import redis_binary


@pytest.fixture
def tiny_scenarios(monkeypatch):
    """Small versions of one scenario of each kind: closed loop, stream, burst, held streams."""
    small = {
        "chat-c16": Scenario("chat-c16", "non-streaming, concurrency 4", "fast", False, 4),
        "stream-c16": Scenario("stream-c16", "streaming (20 chunks), concurrency 4", "fast", True, 4),
        "burst-200": Scenario(
            "burst-200", "20 concurrent requests, upstream answers after 1 s", "slow", False, 20, wave=True
        ),
        # The other client APIs: a native Messages stream (an `anthropic` provider on the fake
        # upstream's /v1/messages) and a translated Responses answer (a chat provider).
        "messages-native-stream-c16": Scenario(
            "messages-native-stream-c16",
            "Messages (native), streaming, concurrency 4",
            "fast",
            True,
            4,
            protocol="messages",
            model="bench-claude",
        ),
        "responses-c16": Scenario(
            "responses-c16",
            "Responses (translated), non-streaming, concurrency 4",
            "fast",
            False,
            4,
            protocol="responses",
        ),
    }
    for key, scenario in small.items():
        monkeypatch.setitem(BY_KEY, key, scenario)
    return list(small)


def test_harness_measures_direct_and_the_gateway(tiny_scenarios):
    config = harness.RunConfig(
        targets=["direct", "gateway"], scenarios=tiny_scenarios, duration=0.5, warmup=0.2, verbose=False
    )
    result = harness.run(config)

    assert result.missing == {}
    rows = {(row["target"], row["scenario"]): row for row in result.rows}
    assert set(rows) == {(t, s) for t in ("direct", "gateway") for s in tiny_scenarios}
    for row in rows.values():
        assert row["ok"] == row["requests"] > 0, row
        assert row["errors"] == {}
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    gateway_stream = rows[("gateway", "stream-c16")]
    assert gateway_stream["ttfc_p50_ms"] is not None and gateway_stream["ttfc_p50_ms"] <= gateway_stream["p50_ms"]
    assert rows[("gateway", "chat-c16")]["cpu_ms_per_req"] > 0
    assert rows[("gateway", "chat-c16")]["peak_rss_mb"] > 10
    burst = rows[("gateway", "burst-200")]
    assert burst["ok"] == 20 and 1.0 <= burst["elapsed_s"] < 10  # the upstream's 1 s delay, not 20 x 1 s

    text = report.render(result, machine=machine_description(), command="smoke")
    assert "| streaming (20 chunks), concurrency 4 | this gateway (uvicorn) |" in text
    assert "## The issue's targets, for the gateway" in text
    assert "| Messages (native), streaming, concurrency 4 | " in text  # read against the chat stream
    assert "| Responses (translated), non-streaming, concurrency 4 | " in text
    assert "| stream-c16: " in text and "| chat-c16: " in text


@pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")
def test_a_limited_key_on_the_benchs_own_redis_is_measured_and_reported(tiny_scenarios, monkeypatch):
    monkeypatch.delenv("BENCH_LIMITS_REDIS_URL", raising=False)
    config = harness.RunConfig(
        targets=["gateway-limited-redis"], scenarios=["chat-c16"], duration=0.5, warmup=0.2, verbose=False
    )
    result = harness.run(config)

    assert result.missing == {}
    (row,) = result.rows
    assert row["ok"] == row["requests"] > 0 and row["errors"] == {}, row
    assert row["wake_us"] is None or row["wake_us"] > 0
    assert "redis-server on the load side's core" in result.notes["gateway-limited-redis"]
    text = report.render(result, machine=machine_description(), command="smoke")
    assert "## A limited key (issue 14)" in text
    assert "| non-streaming, concurrency 4 | this gateway, limited key, Redis (uvicorn) | " in text
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and _is_bench_redis(pid)]  # stopped


def _is_bench_redis(pid: str) -> bool:
    """Whether process `pid` is the bench's Redis (its output goes to the target's log)."""
    try:
        return os.readlink(f"/proc/{pid}/fd/1").endswith("gateway-limited-redis-redis.log")
    except OSError:
        return False


def test_harness_reports_a_target_that_cannot_start(tiny_scenarios, monkeypatch):
    monkeypatch.delenv("BENCH_BASELINE_SRC", raising=False)
    config = harness.RunConfig(
        targets=["gateway-baseline"], scenarios=["chat-c16"], duration=0.2, warmup=0.1, verbose=False
    )
    result = harness.run(config)
    assert result.rows == []
    assert "BENCH_BASELINE_SRC" in result.missing["gateway-baseline"]


def test_inprocess_comparison_runs_end_to_end(capsys):
    """`bench.inprocess` at tiny scale: a driver per tree (here the checkout against itself), the
    scenarios interleaved, one figure per cell."""
    from bench import inprocess

    inprocess.main(
        ["--requests", "20", "--rounds", "1", "--concurrency", "2", "--limited-now", "--only", "chat,chat stream"]
    )
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in lines if line.startswith("| chat")}
    assert set(rows) == {"chat", "chat stream"}
    for cells in rows.values():
        assert all(float(cell) > 0 for cell in cells), cells
