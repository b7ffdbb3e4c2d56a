"""One request lifecycle for every upstream-bound endpoint: images, speech and transcription plan with
live health and the current time as chat does (Retry-After cool-downs, half-open probes after the
breaker opened), and every endpoint records `attempts` in its usage rows the same way."""

import http.client
import socket
import time

import orjson
import pytest

from catalogue.models import Provider, UsageRecord
from completions.routing.health import health_board
from completions.usage import usage_recorder
from tests.fake_upstream.assets import TINY_WAV

# endpoint -> (the capability its providers need, the model they serve)
MEDIA = {
    "images": ("image", "fake-image"),
    "speech": ("speech", "tts-fake"),
    "transcriptions": ("transcription", "whisper-1"),
}


def media_request(gateway, endpoint: str, model: str | None = None):
    model = model or MEDIA[endpoint][1]
    if endpoint == "images":
        body = {"model": model, "prompt": "a red square", "response_format": "b64_json"}
        return gateway.post("/v1/images/generations", body)
    if endpoint == "speech":
        return gateway.post("/v1/audio/speech", {"model": model, "input": "hello", "voice": "alloy"})
    return gateway.post(
        "/v1/audio/transcriptions", files={"file": ("a.wav", TINY_WAV, "audio/wav")}, data={"model": model}
    )


def served_by(gateway, endpoint: str) -> str:
    response = media_request(gateway, endpoint)
    assert response.status_code == 200, response.text
    return response.headers["x-provider"]


def add_pair(gateway, endpoint: str) -> None:
    """`primary` (tried first) and `backup`, both serving the endpoint's model."""
    capability, model = MEDIA[endpoint]
    gateway.add_provider("primary", models=[model], capabilities=(capability,), priority=2)
    gateway.add_provider("backup", models=[model], capabilities=(capability,), priority=1)


def provider_row(name: str) -> Provider:
    assert health_board.writer.wait_idle(10), "health writes did not finish"
    return Provider.objects.get(name=name)


def poll(condition, timeout: float) -> bool:
    """Call `condition` every 0.1 s until it holds; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def breaker_opens_at_once(settings):
    """The breaker opens after one failure and cools down for 3 s (generous for a loaded machine)."""
    settings.G4F = {**settings.G4F, "BREAKER_THRESHOLD": 1, "BREAKER_WINDOW": 60.0, "BREAKER_COOLDOWN": 3.0}


@pytest.mark.parametrize("endpoint", sorted(MEDIA))
def test_retry_after_cools_the_media_provider_down_until_it_ends(gateway, endpoint):
    add_pair(gateway, endpoint)
    gateway.fake.set_fault("primary", "429", retry_after=3, times=1)
    asked_at = time.monotonic()
    assert served_by(gateway, endpoint) == "backup"
    assert len(gateway.fake.requests_for("primary")) == 1
    # While it cools down the provider is not even asked.
    assert served_by(gateway, endpoint) == "backup"
    assert time.monotonic() - asked_at < 3, "the machine was too slow to check inside the cool-down"
    assert len(gateway.fake.requests_for("primary")) == 1
    row = provider_row("primary")
    assert row.status == "working" and row.cooldown_until is not None and "429" in row.last_error
    # After the cool-down it is asked again (its fault is used up, so it answers).
    assert poll(lambda: served_by(gateway, endpoint) == "primary", timeout=15)
    assert len(gateway.fake.requests_for("primary")) == 2


@pytest.mark.parametrize("endpoint", sorted(MEDIA))
def test_half_open_probe_restores_a_media_provider_after_its_breaker_opened(gateway, breaker_opens_at_once, endpoint):
    add_pair(gateway, endpoint)
    gateway.fake.set_fault("primary", "500", times=1)
    assert served_by(gateway, endpoint) == "backup"
    row = provider_row("primary")
    assert row.status == "not_working" and row.status_set_by == "health" and "Circuit breaker" in row.status_reason
    # After the cool-down the probe goes through, succeeds, and the provider is working again.
    assert poll(lambda: served_by(gateway, endpoint) == "primary", timeout=15)
    assert len(gateway.fake.requests_for("primary")) == 2
    assert poll(lambda: provider_row("primary").status == "working", timeout=10)
    assert served_by(gateway, endpoint) == "primary"


def usage_rows(endpoint: str, count: int) -> list[UsageRecord]:
    """The endpoint's usage rows, oldest first, once `count` of them are written (queued after the answer)."""
    rows = UsageRecord.objects.filter(endpoint=endpoint).order_by("id")

    def written() -> bool:
        usage_recorder.flush()
        return rows.count() >= count

    assert poll(written, timeout=10), f"{count} usage rows for {endpoint} were not written"
    return list(rows)


def chat_request(gateway, model: str | None = None):
    return gateway.post(
        "/v1/chat/completions", {"model": model or "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    )


@pytest.mark.parametrize("endpoint", ["chat", *sorted(MEDIA)])
def test_usage_rows_count_attempts_the_same_way_for_every_endpoint(gateway, endpoint):
    capability, model = MEDIA.get(endpoint, ("chat", "fake-model"))
    gateway.add_provider("broken", models=[model], capabilities=(capability,), priority=2)
    gateway.add_provider("working", models=[model], capabilities=(capability,), priority=1)
    gateway.fake.set_fault("broken", "500")
    send = chat_request if endpoint == "chat" else lambda gw, model=None: media_request(gw, endpoint, model)

    unknown = send(gateway, "no-such-model")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    answered = send(gateway)
    assert answered.status_code == 200 and answered.headers["x-provider"] == "working"

    refused, served = usage_rows(endpoint, 2)
    # Routing refused before any attempt: 0, not 1.
    assert (refused.attempts, refused.success, refused.status_code) == (0, False, 404)
    assert (refused.model, refused.provider, refused.stream) == ("no-such-model", "", False)
    assert "no-such-model" in refused.error
    # Two providers tried: 2.
    assert (served.attempts, served.success, served.status_code) == (2, True, 200)
    assert (served.model, served.provider, served.stream, served.error) == (model, "working", False, "")
    assert served.latency_ms > 0


def raw_request(gateway, path: str, body: bytes) -> socket.socket:
    """Send a JSON request on a raw socket, to close it while the gateway waits on the upstream."""
    sock = socket.create_connection(("127.0.0.1", gateway.server.port), timeout=10)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/images/generations", {"model": "fake-model", "prompt": "x", "response_format": "b64_json"}),
    ],
)
def test_a_client_that_goes_away_leaves_a_499_usage_row(gateway, path, body):
    gateway.add_provider("alpha", capabilities=("chat", "image"))
    gateway.fake.set_fault("alpha", "hang")
    sock = raw_request(gateway, path, orjson.dumps(body))
    try:
        assert poll(lambda: gateway.fake.open_connections("alpha") == 1, timeout=10), "the upstream never saw it"
    finally:
        sock.close()
    endpoint = "chat" if "chat" in path else "images"
    (row,) = usage_rows(endpoint, 1)
    assert (row.status_code, row.success, row.model) == (499, False, "fake-model")
    assert row.error == "The client disconnected."
    assert poll(lambda: gateway.fake.open_connections("alpha") == 0, timeout=10), "the upstream call was not cancelled"


@pytest.mark.parametrize(
    "master_key, content_type, status, code",
    [
        ("master-key", "multipart/form-data; boundary=x", 401, "invalid_api_key"),
        ("", "application/json", 400, "unsupported_media_type"),
    ],
)
def test_an_upload_is_refused_before_its_body_is_read(gateway, settings, master_key, content_type, status, code):
    settings.G4F = {**settings.G4F, "API_KEY": master_key}
    gateway.add_provider("ears", models=["whisper-1"], capabilities=("transcription",))
    # The head promises 10 MB that never come: only a refusal before reading the body answers.
    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=10)
    try:
        connection.putrequest("POST", "/v1/audio/transcriptions")
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", "10000000")
        connection.endheaders()
        response = connection.getresponse()
        answer = orjson.loads(response.read())
    finally:
        connection.close()
    assert response.status == status and answer["error"]["code"] == code
    assert gateway.fake.requests_for("ears") == []
