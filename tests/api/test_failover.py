"""Failover and provider health end to end: several fake providers on loopback, their fault modes,
the live gateway, and the provider rows the breaker writes."""

import time

import openai
import pytest

from catalogue import services
from catalogue.models import Provider, UsageRecord
from completions.routing.health import health_board
from completions.usage import usage_recorder
from tests.helpers import sse_events, wait_until
from tests.openapi import assert_valid

USER = [{"role": "user", "content": "ping"}]
CHAT = {"model": "fake-model", "messages": USER}
STREAM = {**CHAT, "stream": True}
# Long enough that the checks made while a breaker is open finish inside it on a loaded machine; the
# tests then wait for the cool-down's recorded end, not for a guessed number of seconds.
BREAKER_COOLDOWN = 3.0


@pytest.fixture
def fast_health(settings):
    """A breaker that opens after 3 failures in a row within 30 s and cools down for BREAKER_COOLDOWN s."""
    settings.G4F = {
        **settings.G4F,
        "BREAKER_THRESHOLD": 3,
        "BREAKER_WINDOW": 30.0,
        "BREAKER_COOLDOWN": BREAKER_COOLDOWN,
        "AUTH_FAILURE_COOLDOWN": 30.0,
    }


def provider_row(name: str) -> Provider:
    assert health_board.writer.wait_idle(10), "health writes did not finish"
    return Provider.objects.get(name=name)


def served_by(gateway, body=CHAT) -> str:
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    return response.json()["provider"]


def open_breaker(gateway, name: str, times: int | None = 3) -> Provider:
    """`name` (priority 2) fails `times` requests with a 500 (every one if None) until the breaker opens;
    `backup` (priority 1) answers them. Returns the provider row the breaker wrote."""
    gateway.add_provider(name, priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault(name, "500", **({} if times is None else {"times": times}))
    for _ in range(3):
        assert served_by(gateway) == "backup"
    row = provider_row(name)
    assert row.status == "not_working" and row.status_set_by == "health" and row.cooldown_until is not None
    return row


def wait_out_cooldown(until) -> None:
    """Sleep until the cool-down that ends at `until` (a row's `cooldown_until`) is over."""
    remaining = until.timestamp() - time.time()
    assert remaining <= BREAKER_COOLDOWN + 1, f"cool-down ends in {remaining:.1f} s"
    time.sleep(max(0.0, remaining) + 0.05)


def test_fails_over_in_priority_order_and_counts_attempts(gateway):
    for name, priority in (("first", 3), ("second", 2), ("third", 1)):
        gateway.add_provider(name, priority=priority)
    gateway.fake.set_fault("first", "500")
    gateway.fake.set_fault("second", "503")
    response = gateway.post("/v1/chat/completions", CHAT)
    assert response.status_code == 200
    assert response.json()["provider"] == "third"
    assert response.headers["x-provider"] == "third" and response.headers["x-attempts"] == "3"
    assert_valid("CreateChatCompletionResponse", response.json())
    assert [len(gateway.fake.requests_for(n)) for n in ("first", "second", "third")] == [1, 1, 1]
    usage_recorder.flush()
    record = UsageRecord.objects.get()
    assert record.provider == "third" and record.attempts == 3 and record.success


@pytest.mark.parametrize("fault", ["malformed", "502", "empty"])
def test_fails_over_on_malformed_and_server_errors(gateway, fault):
    gateway.add_provider("broken", priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("broken", fault)
    assert served_by(gateway) == "backup"


def test_fails_over_on_timeout_before_the_first_byte(gateway):
    gateway.add_provider("slow", priority=2, timeout=0.3)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("slow", "timeout", delay=5)
    started = time.monotonic()
    assert served_by(gateway) == "backup"
    assert time.monotonic() - started < 4


def test_fails_over_on_connection_refused(gateway):
    gateway.add_provider("gone", priority=2, base_url="http://127.0.0.1:9/v1")
    gateway.add_provider("backup", priority=1)
    assert served_by(gateway) == "backup"


def test_client_400_is_returned_without_failover(gateway):
    gateway.add_provider("strict", priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("strict", "400")
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.openai().chat.completions.create(model="fake-model", messages=USER)
    assert raised.value.body["code"] == "upstream_bad_request"
    assert gateway.fake.requests_for("backup") == []
    assert provider_row("strict").status == "working"


def test_an_adapter_that_cannot_send_a_part_fails_over(gateway):
    gateway.add_provider("claude", adapter="anthropic", priority=2, api_key="k")
    gateway.add_provider("backup", priority=1)
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    body = {"model": "fake-model", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, audio]}]}
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "backup" and response.headers["x-attempts"] == "2"


def test_all_failed_error_lists_each_provider(gateway):
    gateway.add_provider("one", priority=2)
    gateway.add_provider("two", priority=1)
    gateway.fake.set_fault("one", "500")
    gateway.fake.set_fault("two", "401")
    response = gateway.post("/v1/chat/completions", CHAT)
    assert response.status_code == 502
    body = response.json()
    assert_valid("ErrorResponse", body)
    assert body["error"]["code"] == "all_providers_failed"
    assert "one: HTTP 500" in body["error"]["message"] and "two: HTTP 401" in body["error"]["message"]


def test_all_rate_limited_is_a_429_with_retry_after(gateway):
    gateway.add_provider("one", priority=2)
    gateway.add_provider("two", priority=1)
    gateway.fake.set_fault("one", "429", retry_after=3)
    gateway.fake.set_fault("two", "429", retry_after=2)
    response = gateway.post("/v1/chat/completions", CHAT)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert "one:" in response.json()["error"]["message"] and "two:" in response.json()["error"]["message"]
    # Both are cooling down now: the next request is refused without calling either.
    again = gateway.post("/v1/chat/completions", CHAT)
    assert again.status_code == 429 and "retry-after" in again.headers
    assert len(gateway.fake.requests_for("one")) == 1 and len(gateway.fake.requests_for("two")) == 1


def test_retry_after_cools_the_provider_down_then_it_is_used_again(gateway):
    gateway.add_provider("limited", priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("limited", "429", retry_after=1, times=1)
    assert served_by(gateway) == "backup"
    assert served_by(gateway) == "backup"  # skipped while cooling down: not even asked
    assert len(gateway.fake.requests_for("limited")) == 1
    row = provider_row("limited")
    assert row.status == "working" and row.cooldown_until is not None and "429" in row.last_error
    assert wait_until(lambda: served_by(gateway) == "limited", timeout=3)
    assert len(gateway.fake.requests_for("limited")) == 2


def test_stream_fails_over_before_the_first_chunk(gateway):
    gateway.add_provider("broken", priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("broken", "500")
    response = gateway.post("/v1/chat/completions", STREAM, stream=True)
    assert response.status_code == 200
    assert response.headers["x-provider"] == "backup" and response.headers["x-attempts"] == "2"
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    assert all("error" not in chunk for chunk in chunks)
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", {k: v for k, v in chunk.items() if k != "provider"})
    assert {chunk["provider"] for chunk in chunks} == {"backup"}


def test_stream_cut_after_the_first_chunk_is_an_error_event_and_a_failure(gateway, fast_health):
    gateway.add_provider("cutter", priority=2)
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_option("cutter", chunks=10)
    for _ in range(3):
        gateway.fake.set_fault("cutter", "cut", times=1)
        response = gateway.post("/v1/chat/completions", STREAM, stream=True)
        assert response.status_code == 200 and response.headers["x-provider"] == "cutter"
        events = sse_events(response)
        assert isinstance(events[-2], dict) and events[-2]["error"]["type"] == "api_error"
        assert not any(
            isinstance(e, dict) and any(c.get("finish_reason") for c in e.get("choices", ())) for e in events
        )
    assert gateway.fake.requests_for("backup") == []  # no failover once a chunk was sent
    # Three cut streams in a row are three failures: the breaker opened.
    row = provider_row("cutter")
    assert row.status == "not_working" and row.status_set_by == "health" and "Circuit breaker" in row.status_reason


def test_breaker_opens_after_repeated_failures_then_half_open_probe_restores(gateway, fast_health):
    row = open_breaker(gateway, "flaky")
    assert "3 failures in a row" in row.status_reason
    assert "HTTP 500" in row.last_error
    # Open: skipped without a request.
    assert served_by(gateway) == "backup"
    assert len(gateway.fake.requests_for("flaky")) == 3
    # The admin-facing catalogue says why.
    listed = {p["provider"]: p for p in gateway.get("/v1/providers").json()["data"]}
    assert listed["flaky"]["working"] is False and listed["flaky"]["status"] == "cooling_down"
    # After the cool-down one probe goes through, succeeds, and the provider is working again.
    wait_out_cooldown(row.cooldown_until)
    assert served_by(gateway) == "flaky"
    assert wait_until(lambda: Provider.objects.get(name="flaky").status == "working")
    row = provider_row("flaky")
    assert row.status_reason == "" and row.cooldown_until is None
    assert served_by(gateway) == "flaky"


def test_failed_probe_reopens_the_breaker(gateway, fast_health):
    first_until = open_breaker(gateway, "dead", times=None).cooldown_until
    wait_out_cooldown(first_until)
    assert served_by(gateway) == "backup"  # the probe failed over
    assert len(gateway.fake.requests_for("dead")) == 4
    row = provider_row("dead")
    assert row.status == "not_working" and row.cooldown_until > first_until
    assert "probe" in row.status_reason


def test_rejected_credential_marks_the_provider_and_fails_over(gateway, fast_health):
    gateway.add_provider("paid", priority=2, api_key="sk-revoked")
    gateway.add_provider("backup", priority=1)
    gateway.fake.set_fault("paid", "401")
    for _ in range(3):  # a 401 counts against the credential once it repeats (AUTH_FAILURE_THRESHOLD)
        assert served_by(gateway) == "backup"
    row = provider_row("paid")
    assert row.status == "not_working" and row.status_set_by == "health"
    assert "credential" in row.status_reason and "401" in row.last_error
    assert served_by(gateway) == "backup"
    assert len(gateway.fake.requests_for("paid")) == 3  # then it is no longer used


def test_operator_override_beats_the_breaker(gateway, fast_health):
    breaker_until = open_breaker(gateway, "flaky").cooldown_until
    flaky = Provider.objects.get(name="flaky")
    # The operator says it works: routed again at once, cool-down or not.
    services.providers_set_status(provider_ids=[flaky.id], status="working", reason="Set by an operator.")
    assert served_by(gateway) == "flaky"
    # The operator says it does not work: a successful request or probe never restores it.
    services.providers_set_status(provider_ids=[flaky.id], status="not_working", reason="Set by an operator.")
    wait_out_cooldown(breaker_until)  # past the breaker's cool-down: still the operator's word
    assert served_by(gateway) == "backup"
    assert len(gateway.fake.requests_for("flaky")) == 4
    row = provider_row("flaky")
    assert (
        row.status == "not_working" and row.status_set_by == "operator" and row.status_reason == "Set by an operator."
    )
    # Failures of another kind never overwrite an operator's "ignored" either.
    services.providers_set_status(provider_ids=[flaky.id], status="ignored", reason="Set by an operator.")
    assert not services.provider_breaker_open(
        key=(flaky.id, flaky.created_at), reason="x", error="x", until=flaky.created_at
    )
    assert Provider.objects.get(name="flaky").status == "ignored"


def test_capabilities_filter_candidates(gateway):
    gateway.add_provider("text-only", priority=5, capabilities=("chat",))
    gateway.add_provider("eyes", priority=1, capabilities=("chat", "vision", "tools", "json"))
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    vision = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, image]}],
    }
    assert served_by(gateway, vision) == "eyes"
    assert served_by(gateway, {**CHAT, "response_format": {"type": "json_object"}}) == "eyes"
    assert served_by(gateway, CHAT) == "text-only"
    assert gateway.fake.requests_for("text-only")[-1].json["messages"] == USER


def test_pinned_provider_in_cool_down_says_so(gateway):
    gateway.add_provider("limited")
    gateway.fake.set_fault("limited", "429", retry_after=30, times=1)
    first = gateway.post("/v1/chat/completions", {**CHAT, "provider": "limited"})
    assert first.status_code == 429
    second = gateway.post("/v1/chat/completions", {**CHAT, "provider": "limited"})
    assert second.status_code == 429 and int(second.headers["retry-after"]) >= 25
    assert "rate limited" in second.json()["error"]["message"]
    assert len(gateway.fake.requests_for("limited")) == 1


def test_half_open_lets_exactly_one_probe_through(gateway, fast_health):
    from concurrent.futures import ThreadPoolExecutor

    wait_out_cooldown(open_breaker(gateway, "flaky").cooldown_until)
    gateway.fake.set_fault("flaky", "slow", delay=1.0, times=1)  # the probe takes a while, and succeeds
    with ThreadPoolExecutor(4) as pool:
        answered = list(pool.map(lambda _: served_by(gateway), range(4)))
    assert sorted(answered) == ["backup", "backup", "backup", "flaky"]
    assert len(gateway.fake.requests_for("flaky")) == 4
    assert wait_until(lambda: Provider.objects.get(name="flaky").status == "working")


def test_recent_success_rate_and_latency_reach_the_provider_row(gateway):
    gateway.add_provider("mixed")
    gateway.fake.set_fault("mixed", "500", times=1)
    assert gateway.post("/v1/chat/completions", CHAT).status_code == 502
    for _ in range(3):
        assert served_by(gateway) == "mixed"
    health_board.writer.stats_flush()  # the writer thread does this every HEALTH_FLUSH_INTERVAL
    row = Provider.objects.get(name="mixed")
    assert row.recent_success_rate == pytest.approx(0.75) and row.recent_latency_ms > 0
    assert "HTTP 500" in row.last_error and row.status == "working"


def test_a_single_failing_provider_is_named(gateway):
    """With one candidate, the error still says which provider failed (issue 17 item 9)."""
    gateway.add_provider("lonely")
    gateway.fake.set_fault("lonely", "500")
    with pytest.raises(openai.InternalServerError) as raised:
        gateway.openai().chat.completions.create(model="fake-model", messages=USER)
    assert raised.value.status_code == 502
    assert_valid("ErrorResponse", raised.value.response.json())
    assert "'lonely'" in raised.value.body["message"] and "HTTP 500" in raised.value.body["message"]
