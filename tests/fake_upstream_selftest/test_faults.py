"""The fake upstream's fault modes, chosen per provider, by model name or by header."""

from __future__ import annotations

import threading
import time

import openai
import orjson
import pytest
import requests

from tests.fake_upstream import FAULT_MODES, FakeUpstream
from tests.fake_upstream.faults import Fault, fault_from_header, fault_from_model
from tests.fake_upstream_selftest.talk import HELLO, chat, client, sse_data
from tests.openapi import assert_valid

STATUS_MODES = ["400", "401", "403", "404", "429", "500", "502", "503"]


# --- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", STATUS_MODES)
def test_status_faults_by_provider_model_and_header(fake, mode):
    fake.set_fault("alpha", mode)
    by_provider = chat(fake)
    by_model = chat(fake, "beta", model=f"gpt-fault-{mode}")
    by_header = chat(fake, "beta", headers={"x-fake-fault": mode})

    for response in (by_provider, by_model, by_header):
        assert response.status_code == int(mode)
        assert_valid("ErrorResponse", response.json())
    fake.set_fault("alpha", None)
    assert chat(fake).status_code == 200


def test_429_carries_retry_after(fake):
    assert chat(fake, model="m-fault-429").headers["retry-after"] == "1"
    fake.set_fault("alpha", "429", retry_after=7)
    with pytest.raises(openai.RateLimitError) as raised:
        client(fake).chat.completions.create(model="fake-model", messages=HELLO)
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.body["code"] == "rate_limit_exceeded"


def test_fault_with_times_clears_itself(fake):
    fake.set_fault("alpha", "503", times=2)
    assert [chat(fake).status_code for _ in range(3)] == [503, 503, 200]


def test_sdk_maps_auth_faults(fake):
    with pytest.raises(openai.AuthenticationError):
        client(fake).chat.completions.create(model="m-fault-401", messages=HELLO)
    with pytest.raises(openai.PermissionDeniedError):
        client(fake).chat.completions.create(model="m-fault-403", messages=HELLO)


def test_slow_waits_then_answers(fake):
    started = time.monotonic()
    response = chat(fake, headers={"x-fake-fault": "slow; delay=0.3"})
    assert time.monotonic() - started >= 0.3 and response.status_code == 200

    fake.set_fault("alpha", "slow", delay=0.2)
    started = time.monotonic()
    assert chat(fake).json()["choices"][0]["message"]["content"] == "Hello from alpha: hi there"
    assert time.monotonic() - started >= 0.2


def test_timeout_outlasts_a_short_client_timeout(fake):
    assert Fault("slow").wait_seconds == 2 and Fault("timeout").wait_seconds == 30
    with pytest.raises(openai.APITimeoutError):
        client(fake, timeout=0.3).chat.completions.create(model="m-fault-timeout", messages=HELLO)


def test_hang_never_answers_and_blocks_no_one(fake):
    outcome = {}

    def hang() -> None:
        try:
            chat(fake, model="m-fault-hang", timeout=0.5)
        except requests.ReadTimeout:
            outcome["hang"] = time.monotonic()

    thread = threading.Thread(target=hang)
    thread.start()
    time.sleep(0.1)
    assert chat(fake).status_code == 200
    outcome["other"] = time.monotonic()
    thread.join(5)
    assert outcome["other"] < outcome["hang"]


def test_stop_ends_a_hanging_request():
    server = FakeUpstream().start()
    errors = []

    def hang() -> None:
        try:
            response = requests.post(f"{server.provider_url('a')}/models", headers={"x-fake-fault": "hang"}, timeout=30)
            errors.append(response.status_code)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.stop()
    thread.join(5)
    assert time.monotonic() - started < 5 and not thread.is_alive() and errors
    assert not any(t.name.startswith(f"fake-upstream-{server.port}") for t in threading.enumerate())


def test_cut_stream_ends_without_finish_or_done(fake):
    fake.set_option("alpha", chunks=10)
    received = []
    with (
        requests.post(
            f"{fake.provider_url('alpha')}/chat/completions",
            json={"model": "m-fault-cut", "messages": HELLO, "stream": True},
            stream=True,
            timeout=10,
        ) as response,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        for line in response.iter_lines():
            received.append(line.decode())
    data = [line[len("data: ") :] for line in received if line.startswith("data: ")]
    assert 3 <= len(data) <= 8
    assert "[DONE]" not in data
    assert all(orjson.loads(d)["choices"][0]["finish_reason"] is None for d in data)


def test_cut_plain_response_is_truncated(fake):
    with pytest.raises(openai.APIConnectionError):
        client(fake).chat.completions.create(model="m-fault-cut", messages=HELLO)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        chat(fake, model="m-fault-cut")


def test_malformed_plain_and_stream(fake):
    plain = chat(fake, model="m-fault-malformed")
    assert plain.status_code == 200
    with pytest.raises(ValueError):
        plain.json()

    events = sse_data(chat(fake, model="m-fault-malformed", stream=True).text)
    assert len(events) == 2
    assert_valid("CreateChatCompletionStreamResponse", orjson.loads(events[0]))
    assert events[1] == "{not json"


def test_empty_lacks_choices(fake):
    plain = chat(fake, headers={"x-fake-fault": "empty"})
    assert plain.status_code == 200 and plain.json() == {}
    assert sse_data(chat(fake, model="m-fault-empty", stream=True).text) == ["{}", "[DONE]"]


def test_fault_selection_parsing():
    assert fault_from_model("gpt-fault-500") == Fault("500")
    assert fault_from_model("gpt-4o") is None and fault_from_model("x-fault-bogus") is None
    assert fault_from_header("429; retry_after=3") == Fault("429", retry_after=3)
    assert fault_from_header("slow;delay=0.25") == Fault("slow", delay=0.25)
    assert fault_from_header("nonsense") is None
    assert {"500", "429", "hang", "cut", "malformed", "empty", "slow", "timeout"} <= FAULT_MODES


def test_bad_settings_are_rejected(fake):
    with pytest.raises(ValueError):
        fake.set_fault("alpha", "boom")
    with pytest.raises(TypeError):
        fake.set_option("alpha", chunkz=3)
