"""Usage records: queued by requests, written by the background writer with one executemany per batch."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue import services
from catalogue.models import UsageRecord
from completions import usage
from completions.usage import UsageRecorder


@pytest.fixture(autouse=True)
def writer_thread_asleep(settings):
    """The tests flush by hand; the background writer (it sleeps an interval before each flush) must not
    race them."""
    settings.G4F = {**settings.G4F, "USAGE_FLUSH_INTERVAL": 3600.0}


def test_flush_writes_every_field_as_recorded(db):
    key, _ = services.api_key_create(name="writer")
    recorder = UsageRecorder()
    when = timezone.now() - timedelta(minutes=3)
    recorder.record(
        api_key_id=key.id,
        endpoint="chat",
        model="m-1",
        provider="Alpha",
        success=True,
        status_code=200,
        attempts=2,
        prompt_tokens=11,
        completion_tokens=7,
        latency_ms=12.5,
        stream=True,
        error="",
        created_at=when,
    )
    # Fewer fields (as the media endpoints record): the rest take the model's defaults.
    recorder.record(endpoint="images", model="img", provider="", success=False, status_code=502, error="boom ✓")
    assert recorder.flush() == 2

    first, second = UsageRecord.objects.order_by("id")
    assert (first.api_key_id, first.endpoint, first.model, first.provider) == (key.id, "chat", "m-1", "Alpha")
    assert (first.success, first.status_code, first.attempts, first.stream) == (True, 200, 2, True)
    assert (first.prompt_tokens, first.completion_tokens, first.latency_ms) == (11, 7, 12.5)
    assert first.created_at == when
    assert second.api_key_id is None and second.error == "boom ✓" and not second.success
    assert (second.attempts, second.prompt_tokens, second.latency_ms, second.stream) == (1, 0, 0.0, False)
    assert abs((timezone.now() - second.created_at).total_seconds()) < 60
    assert recorder.flush() == 0  # the queue is empty now


def test_flush_writes_more_rows_than_one_batch(db, monkeypatch):
    monkeypatch.setattr(usage, "USAGE_BATCH_ROWS", 7)
    recorder = UsageRecorder()
    for index in range(30):
        recorder.record(endpoint="chat", model=f"m{index}", success=True, status_code=200)
    assert recorder.flush() == 30
    assert sorted(UsageRecord.objects.values_list("model", flat=True)) == sorted(f"m{index}" for index in range(30))
