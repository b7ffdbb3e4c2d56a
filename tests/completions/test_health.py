"""The health board: breaker counting, cool-downs, what counts as a failure, half-open probes.

The board runs on an injected clock and a recording writer, so these tests need no database."""

import asyncio
from datetime import UTC, datetime

import pytest

from catalogue.snapshot import ProviderEntry
from completions import errors
from completions.routing.health import HealthBoard, is_client_fault
from tests.helpers import provider_entry

CREATED = datetime(2024, 1, 1, tzinfo=UTC)


class RecordingWriter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def submit(self, service: str, **kwargs) -> None:
        self.calls.append((service, kwargs))

    def start(self) -> None:
        pass

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def provider(
    *, status: str = "working", set_by: str = "operator", cooldown_until: float | None = None, pid: int = 1
) -> ProviderEntry:
    return provider_entry(
        f"p{pid}", id=pid, status=status, status_set_by=set_by, cooldown_until=cooldown_until, created_at=CREATED
    )


@pytest.fixture
def board(settings):
    settings.G4F = {
        **settings.G4F,
        "BREAKER_THRESHOLD": 3,
        "BREAKER_WINDOW": 30.0,
        "BREAKER_COOLDOWN": 10.0,
        "AUTH_FAILURE_COOLDOWN": 600.0,
        "RATE_LIMIT_COOLDOWN": 5.0,
        "MAX_RATE_LIMIT_COOLDOWN": 60.0,
        "HEALTH_WINDOW": 300.0,
    }
    board = HealthBoard(clock=Clock())
    board.writer = RecordingWriter()
    return board


def test_breaker_opens_after_threshold_failures_in_a_row(board):
    p = provider()
    for _ in range(2):
        board.record_failure(p, errors.ProviderError("HTTP 500"))
    board.record_success(p, 100.0)  # a success resets the count
    for _ in range(2):
        board.record_failure(p, errors.UpstreamTimeout())
    assert board.writer.names() == []
    board.record_failure(p, errors.UpstreamMalformed())
    assert board.writer.names() == ["provider_breaker_open"]
    call = board.writer.calls[0][1]
    assert call["key"] == (1, CREATED) and "3 failures in a row" in call["reason"]
    assert call["until"].timestamp() == pytest.approx(board.clock.now + 10.0)
    stats = board.view()[p.health_key]
    assert stats.cooldown_until == pytest.approx(board.clock.now + 10.0) and not stats.rate_limited


def test_failures_older_than_the_window_do_not_count(board):
    p = provider()
    board.record_failure(p, errors.ProviderError("x"))
    board.record_failure(p, errors.ProviderError("x"))
    board.clock.now += 31
    board.record_failure(p, errors.ProviderError("x"))
    assert board.writer.names() == []


def test_rate_limit_cools_down_for_retry_after_without_opening_the_breaker(board):
    p = provider()
    board.record_failure(p, errors.RateLimited("slow down", retry_after=2))
    board.record_failure(p, errors.RateLimited("slow down"))  # no Retry-After: the default
    board.record_failure(p, errors.RateLimited("slow down", retry_after=10_000))  # capped
    names = board.writer.names()
    assert names == ["provider_rate_limited"] * 3
    untils = [kwargs["until"].timestamp() - board.clock.now for _, kwargs in board.writer.calls]
    assert untils == pytest.approx([2.0, 5.0, 60.0])
    assert board.view()[p.health_key].rate_limited


def test_rejected_credential_opens_only_after_it_repeats(board, settings):
    settings.G4F = {**settings.G4F, "AUTH_FAILURE_THRESHOLD": 3}
    p = provider()
    board.record_failure(p, errors.UpstreamAuthFailed("HTTP 401: bad key"))
    board.record_failure(p, errors.UpstreamAuthFailed("HTTP 403: moderation"))
    board.record_success(p, 10.0)  # the credential works: the count starts over
    board.record_failure(p, errors.UpstreamAuthFailed("HTTP 401: bad key"))
    board.record_failure(p, errors.UpstreamAuthFailed("HTTP 401: bad key"))
    assert board.writer.names() == []
    board.record_failure(p, errors.UpstreamAuthFailed("HTTP 401: Incorrect API key: attacker words"))
    ((name, kwargs),) = board.writer.calls
    assert name == "provider_breaker_open" and "rejected the credential 3 times" in kwargs["reason"]
    assert "provider_auth_failed" in kwargs["reason"] and "attacker" not in kwargs["reason"]
    assert kwargs["until"].timestamp() == pytest.approx(board.clock.now + 600)


def test_rejected_credential_on_a_pinned_request_never_counts(board):
    p = provider()
    for _ in range(10):
        board.record_failure(p, errors.UpstreamAuthFailed("HTTP 401"), catalogue_routed=False)
    assert board.writer.names() == [] and p.health_key not in board.view()


def test_breaker_reasons_name_the_class_of_failure_not_upstream_words(board):
    p = provider()
    for _ in range(3):
        board.record_failure(p, errors.ProviderError("HTTP 500: words a client chose"))
    reason = board.writer.calls[0][1]["reason"]
    assert "words" not in reason and "provider_error" in reason
    assert board.view()[p.health_key].cooldown_reason == reason


@pytest.mark.parametrize(
    "exc",
    [
        errors.UpstreamBadRequest("HTTP 400"),
        errors.UpstreamNotFound("HTTP 404: no such model"),
        errors.ProviderBusy("queue full"),
        errors.ImageUrlRefused("bad image"),
        errors.ValidationFailed("n must be 1"),
        errors.UnsupportedCapability("no input_audio"),
    ],
)
def test_client_faults_and_unsendable_parts_say_nothing_about_health(board, exc):
    p = provider()
    for _ in range(5):
        board.record_failure(p, exc)
    assert board.writer.names() == [] and p.health_key not in board.view()


def test_which_errors_are_the_clients_fault():
    assert is_client_fault(errors.UpstreamBadRequest())
    assert is_client_fault(errors.ImageUrlRefused())
    assert not is_client_fault(errors.UnsupportedCapability())
    assert not is_client_fault(errors.UpstreamAuthFailed())
    assert not is_client_fault(errors.RateLimited())


def test_half_open_probe_success_closes_and_failure_reopens(board):
    half_open = provider(status="not_working", set_by="health", cooldown_until=board.clock.now - 1)
    board.record_success(half_open, 50.0)
    assert board.writer.names() == ["provider_breaker_close"]
    board.record_failure(half_open, errors.ProviderError("still down"))
    assert board.writer.names()[-1] == "provider_breaker_open"
    assert "probe" in board.writer.calls[-1][1]["reason"]
    # An operator's not working is never closed by a success.
    board.record_success(provider(status="not_working", set_by="operator", pid=2), 10.0)
    assert board.writer.names().count("provider_breaker_close") == 1


def test_success_rate_and_latency_over_the_window(board):
    p = provider()
    board.record_success(p, 100.0)
    board.record_success(p, 300.0)
    board.record_failure(p, errors.ProviderError("x"))
    stats = board.view()[p.health_key]
    assert stats.success_rate == pytest.approx(3 / 4)  # (2 successes + 1) / (3 outcomes + 1)
    assert stats.latency_ms == pytest.approx(200.0)
    assert stats.expires_at == pytest.approx(board.clock.now + 300)
    (row,) = board.stats_drain()
    assert row["success_rate"] == pytest.approx(2 / 3) and row["last_error"] == "ProviderError: x"
    assert board.stats_drain() == []  # only what changed since


def test_half_open_admits_exactly_one_probe_at_a_time(board):
    half_open = provider(status="not_working", set_by="health", cooldown_until=board.clock.now - 1, pid=77)

    async def scenario():
        first = await board.admit(half_open)
        second = await board.admit(half_open)
        assert first is not None and first.token and second is None
        await first.release()
        third = await board.admit(half_open)
        assert third is not None
        await third.release()
        working = await board.admit(provider(pid=78))
        assert working is not None and working.token is None  # no token needed

    asyncio.run(scenario())


def test_published_statistics_match_a_recount_of_the_recent_outcomes(board):
    """The board keeps running counts; they must equal counting the last 100 outcomes in the window."""
    import random

    from completions.routing.health import MAX_OUTCOMES

    rng = random.Random(8)
    p, history = provider(), []
    for _ in range(600):
        board.clock.now += rng.choice([0.5, 2.0, 40.0])  # now and then a long pause lets outcomes expire
        if rng.random() < 0.7:
            latency = rng.uniform(10, 500)
            board.record_success(p, latency)
            history.append((board.clock.now, True, latency))
        else:
            board.record_failure(p, errors.ProviderError("HTTP 500"))
            history.append((board.clock.now, False, None))
        recent = [o for o in history[-MAX_OUTCOMES:] if o[0] >= board.clock.now - 300.0]
        latencies = [latency for _, ok, latency in recent if ok][-20:]
        view = board.view()[p.health_key]
        assert view.success_rate == pytest.approx((sum(ok for _, ok, _ in recent) + 1) / (len(recent) + 1))
        assert view.latency_ms == (pytest.approx(sum(latencies) / len(latencies)) if latencies else None)
        assert view.expires_at == recent[-1][0] + 300.0
