"""Usage records: queued by requests, written by the background writer with one executemany per batch."""

import logging
from datetime import timedelta

import pytest
from django.db import IntegrityError, OperationalError
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


class UnreachableDatabase:
    """A batch writer that fails like a stopped database server until `reachable`, then keeps what
    it is given."""

    def __init__(self) -> None:
        self.reachable = False
        self.attempts = 0
        self.written: list[str] = []

    def __call__(self, rows: list[dict]) -> None:
        self.attempts += 1
        if not self.reachable:
            raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
        self.written += [row["model"] for row in rows]


def test_rows_wait_for_the_database_and_a_full_buffer_drops_the_oldest(settings, caplog):
    settings.G4F = {**settings.G4F, "USAGE_FLUSH_INTERVAL": 3600.0, "USAGE_BUFFER_ROWS": 5}
    database = UnreachableDatabase()
    recorder = UsageRecorder(rows_write=database)
    for index in range(3):
        recorder.record(endpoint="chat", model=f"m{index}", success=True, status_code=200)
    with pytest.raises(OperationalError):
        recorder.flush()
    assert database.attempts == 2  # once more on a fresh connection
    assert recorder.pending == 3

    for index in range(3, 8):
        recorder.record(endpoint="chat", model=f"m{index}", success=True, status_code=200)
    with caplog.at_level(logging.WARNING, logger="g4f.usage"), pytest.raises(OperationalError):
        recorder.flush()
    assert recorder.pending == 5
    assert [r.getMessage() for r in caplog.records] == [
        "Usage buffer full (USAGE_BUFFER_ROWS=5) while the database cannot be written: "
        "dropped the 3 oldest usage record(s)."
    ]

    database.reachable = True
    assert recorder.flush() == 5
    assert database.written == ["m3", "m4", "m5", "m6", "m7"]
    assert recorder.pending == 0 and recorder.flush() == 0


def test_a_batch_the_database_refuses_is_dropped_not_retried(settings, caplog):
    settings.G4F = {**settings.G4F, "USAGE_FLUSH_INTERVAL": 3600.0}

    def refuse(rows: list[dict]) -> None:
        raise IntegrityError("refused")

    recorder = UsageRecorder(rows_write=refuse)
    recorder.record(endpoint="chat", model="m", success=True, status_code=200)
    with caplog.at_level(logging.ERROR, logger="g4f.usage"), pytest.raises(IntegrityError):
        recorder.flush()
    assert recorder.pending == 0
    assert "The database refused 1 usage record(s); they are dropped." in caplog.text
