"""The report's issue-14 table read from made-up rows: a limited key's CPU against its goal and its
throughput against each peer measured in the same run."""

from bench import report


def _row(rps: float, cpu: float | None = None) -> dict:
    return {"rps": rps, "cpu_ms_per_req": cpu, "wake_us": 7.0}


def test_the_limited_key_table_compares_its_throughput_with_each_peer():
    merged = {
        ("chat-c1", "gateway"): _row(2000, 0.40),
        ("chat-c1", "gateway-limited-redis"): _row(1500, 0.90),
        ("chat-c1", "litellm"): _row(100, 10.0),
        ("chat-c1", "g4f"): _row(600, 4.0),
        ("stream-c1", "gateway-limited-redis"): _row(1000, 0.70),
        ("stream-c1", "litellm"): _row(20, 30.0),
        ("stream-c1", "g4f"): _row(50, 18.0),
    }
    text = "\n".join(report.limited_key_table(merged, {"litellm": "LiteLLM", "g4f": "g4f"}))

    assert "req/s ÷ LiteLLM's | req/s ÷ g4f's |" in text
    assert "| 0.90 | ≤ 0.8 | no | 0.40 | 7 | 15.0× | 2.5× |" in text  # non-streaming, concurrency 1
    assert "| 0.70 | ≤ 1.5 | yes | – | 7 | 50.0× | 20.0× |" in text  # the stream
    assert "against LiteLLM, worst scenario: 15.0× (goal ≥ 10×: met)" in text
    assert "against g4f, worst scenario: 2.5× (goal ≥ 3×: not met)" in text


def test_without_peers_the_table_has_no_throughput_columns():
    merged = {("chat-c16", "gateway-limited"): _row(3000, 0.30)}
    lines = report.limited_key_table(merged, {})

    assert lines[3].count("|") == 8 and "÷" not in "\n".join(lines)
    assert "| 0.30 | ≤ 0.8 | yes | – | 7 |" in lines[-1]
