"""Breaker failure counts shared through a real Redis (issue 16.8): two boards stand for two processes.

The threshold holds in total across them; a success in either resets the count; with Redis
unreachable each counts alone. The boards record their transitions instead of writing rows."""

import asyncio

import pytest

from completions import errors
from completions.redis_link import RedisLink
from completions.routing.health import HealthBoard
from completions.routing.health_shared import SharedFailureCounts
from tests.completions.test_health import Clock, RecordingWriter, provider
from tests.helpers import free_port


@pytest.fixture
def breaker_settings(settings):
    settings.G4F = {
        **settings.G4F,
        "BREAKER_THRESHOLD": 5,
        "BREAKER_WINDOW": 30.0,
        "BREAKER_COOLDOWN": 10.0,
        "AUTH_FAILURE_THRESHOLD": 3,
        "HEALTH_WINDOW": 300.0,
    }


def boards(url: str, count: int = 2) -> list[HealthBoard]:
    """`count` boards, each with its own link to `url`, as separate processes would have."""
    made = []
    for _ in range(count):
        link = RedisLink(url, timeout=0.5)
        board = HealthBoard(clock=Clock(), shared=SharedFailureCounts(link=lambda link=link: link))
        board.writer = RecordingWriter()
        made.append(board)
    return made


async def settled(*all_boards: HealthBoard) -> None:
    """Let the boards' Redis counting tasks finish."""
    for _ in range(200):
        if not any(board.shared._tasks for board in all_boards):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the shared counting did not finish")


def opened(board: HealthBoard) -> list[dict]:
    return [kwargs for name, kwargs in board.writer.calls if name == "provider_breaker_open"]


def test_the_threshold_counts_failures_of_every_process(breaker_settings, redis_server):
    first, second = boards(redis_server.url)
    p = provider(pid=31)

    async def scenario() -> None:
        for index in range(4):  # 2 + 2: no process reaches 5 alone, nor do both together yet
            (first if index % 2 else second).record_failure(p, errors.ProviderError("HTTP 500"))
            await settled(first, second)
        assert opened(first) == opened(second) == []
        first.record_failure(p, errors.ProviderError("HTTP 500"))  # the fifth in total
        await settled(first, second)
        (call,) = opened(first)
        assert "5 failures in a row" in call["reason"] and opened(second) == []
        # The count started again: four more failures open nothing.
        for index in range(4):
            (first if index % 2 else second).record_failure(p, errors.ProviderError("HTTP 500"))
            await settled(first, second)
        assert len(opened(first)) == 1 and opened(second) == []

    asyncio.run(scenario())


def test_a_success_in_either_process_resets_the_shared_count(breaker_settings, redis_server):
    first, second = boards(redis_server.url)
    p = provider(pid=32)

    async def scenario() -> None:
        for _ in range(4):
            first.record_failure(p, errors.UpstreamTimeout())
            await settled(first, second)
        second.record_success(p, 50.0)  # counted nothing itself: the once-a-second reset
        await settled(first, second)
        for _ in range(4):
            second.record_failure(p, errors.UpstreamTimeout())
            await settled(first, second)
        assert opened(first) == opened(second) == []
        first.record_failure(p, errors.UpstreamTimeout())
        await settled(first, second)
        assert len(opened(first)) == 1

    asyncio.run(scenario())


def test_rejected_credentials_are_counted_in_redis_too(breaker_settings, redis_server):
    first, second = boards(redis_server.url)
    p = provider(pid=33)

    async def scenario() -> None:
        for board in (first, second, first):
            board.record_failure(p, errors.UpstreamAuthFailed("HTTP 401"))
            await settled(first, second)
        (call,) = opened(first)
        assert "rejected the credential 3 times" in call["reason"]

    asyncio.run(scenario())


def test_each_process_counts_alone_while_redis_is_unreachable(breaker_settings):
    first, second = boards(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    p = provider(pid=34)

    async def scenario() -> None:
        for index in range(8):  # 4 each: neither opens
            (first if index % 2 else second).record_failure(p, errors.ProviderError("HTTP 500"))
            await settled(first, second)
        assert opened(first) == opened(second) == []
        first.record_failure(p, errors.ProviderError("HTTP 500"))
        await settled(first, second)
        assert len(opened(first)) == 1 and opened(second) == []

    asyncio.run(scenario())
