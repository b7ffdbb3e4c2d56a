"""Self-tests of the fake upstream (tests/fake_upstream), with `requests` and the `openai` SDK."""

from __future__ import annotations

import base64
import json
import threading
import time

import openai
import orjson
import pytest
import requests

from tests.fake_upstream import FAULT_MODES, FakeUpstream
from tests.fake_upstream.assets import TINY_PNG
from tests.fake_upstream.faults import Fault, fault_from_header, fault_from_model
from tests.openapi import assert_valid

HELLO = [{"role": "user", "content": "hi there"}]
TOOLS = [
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
]
STATUS_MODES = ["400", "401", "403", "404", "429", "500", "502", "503"]


def chat(
    fake: FakeUpstream, provider: str = "alpha", headers: dict | None = None, timeout: float = 10, **body
) -> requests.Response:
    body = {"model": "fake-model", "messages": HELLO, **body}
    return requests.post(f"{fake.provider_url(provider)}/chat/completions", json=body, headers=headers, timeout=timeout)


def sse_data(text: str) -> list[str]:
    """The payloads of the ``data:`` events of an SSE body."""
    return [block[len("data: ") :] for block in text.split("\n\n") if block.startswith("data: ")]


def client(fake: FakeUpstream, provider: str = "alpha", **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.provider_url(provider), api_key="sk-test", max_retries=0, **options)


# --- normal behaviour -----------------------------------------------------------------------------


def test_chat_completion_echoes_the_last_user_message(fake):
    response = chat(fake, messages=[{"role": "system", "content": "be nice"}, *HELLO])

    assert response.status_code == 200
    body = response.json()
    assert_valid("CreateChatCompletionResponse", body)
    assert body["object"] == "chat.completion"
    assert body["model"] == "fake-model"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from alpha: hi there",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}


def test_content_parts_are_joined_and_images_counted(fake):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    parts = [{"type": "text", "text": "what is"}, image, {"type": "text", "text": "this?"}, image]

    body = chat(fake, model="fake-vision", messages=[{"role": "user", "content": parts}]).json()

    assert body["choices"][0]["message"]["content"] == "Hello from alpha: what is this? [images: 2]"


def test_content_option_and_max_tokens_truncation(fake):
    fake.set_option("alpha", content="one two three four")

    assert chat(fake).json()["choices"][0]["message"]["content"] == "one two three four"
    body = chat(fake, max_tokens=2).json()
    assert body["choices"][0]["message"]["content"] == "one two"
    assert body["choices"][0]["finish_reason"] == "length"


def test_json_response_format_answers_json(fake):
    body = chat(fake, response_format={"type": "json_object"}).json()

    assert json.loads(body["choices"][0]["message"]["content"]) == {"echo": "hi there"}


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [(None, "lookup"), ("auto", "lookup"), ({"type": "function", "function": {"name": "other"}}, "other")],
)
def test_tools_answer_with_a_tool_call(fake, tool_choice, expected):
    extra = {"tool_choice": tool_choice} if tool_choice else {}
    body = chat(fake, tools=TOOLS, **extra).json()

    assert_valid("CreateChatCompletionResponse", body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": expected, "arguments": '{"echo": "hi there"}'}}
    ]


def test_tool_choice_none_and_tool_results_answer_with_text(fake):
    assert chat(fake, tools=TOOLS, tool_choice="none").json()["choices"][0]["message"]["content"].startswith("Hello")
    messages = [
        *HELLO,
        {"role": "assistant", "tool_calls": []},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    body = chat(fake, tools=TOOLS, messages=messages).json()
    assert body["choices"][0]["message"]["content"] == "Tool said: 42"
    assert body["choices"][0]["finish_reason"] == "stop"


def test_stream_splits_the_answer_into_chunks(fake):
    fake.set_option("alpha", chunks=3)

    response = chat(fake, stream=True, stream_options={"include_usage": True})

    assert response.headers["content-type"].startswith("text/event-stream")
    *payloads, done = sse_data(response.text)
    assert done == "[DONE]"
    chunks = [orjson.loads(p) for p in payloads]
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:4]]
    assert "".join(pieces) == "Hello from alpha: hi there" and all(pieces)
    assert chunks[4]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert chunks[5]["choices"] == [] and chunks[5]["usage"]["completion_tokens"] == 5
    assert len(chunks) == 6 and len({c["id"] for c in chunks}) == 1


def test_stream_without_usage_option_has_no_usage_chunk(fake):
    chunks = [orjson.loads(p) for p in sse_data(chat(fake, stream=True).text)[:-1]]

    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_chunk_delay_paces_the_stream(fake):
    fake.set_option("alpha", chunks=4, chunk_delay=0.05)
    started = time.monotonic()
    chat(fake, stream=True)
    assert time.monotonic() - started >= 0.05 * 6  # 7 events (role, 4 pieces, finish, [DONE]) -> 6 gaps


def test_openai_sdk_chat_and_stream_with_tool_call(fake):
    sdk = client(fake, "beta")

    completion = sdk.chat.completions.create(model="fake-model", messages=HELLO)
    assert completion.choices[0].message.content == "Hello from beta: hi there"

    stream = sdk.chat.completions.create(model="fake-model", messages=HELLO, tools=TOOLS, stream=True)
    calls, finish = [], None
    for chunk in stream:
        delta = chunk.choices[0].delta
        calls += delta.tool_calls or []
        finish = chunk.choices[0].finish_reason or finish
    assert calls[0].id == "call_1" and calls[0].function.name == "lookup"
    assert "".join(c.function.arguments for c in calls) == '{"echo": "hi there"}'
    assert finish == "tool_calls"


def test_models_list(fake):
    fake.set_option("alpha", models=["m1", "m2"])
    body = requests.get(f"{fake.provider_url('alpha')}/models", timeout=10).json()
    assert_valid("ListModelsResponse", body)
    assert body["data"] == [
        {"id": "m1", "object": "model", "created": 0, "owned_by": "alpha"},
        {"id": "m2", "object": "model", "created": 0, "owned_by": "alpha"},
    ]
    assert [m.id for m in client(fake, "beta").models.list()] == ["fake-model", "fake-vision", "fake-image"]


def test_images_as_b64_and_as_url(fake):
    sdk = client(fake)
    b64 = sdk.images.generate(model="fake-image", prompt="a cat", n=2, response_format="b64_json")
    assert len(b64.data) == 2 and base64.b64decode(b64.data[0].b64_json) == TINY_PNG

    body = requests.post(
        f"{fake.provider_url('alpha')}/images/generations", json={"prompt": "a cat"}, timeout=10
    ).json()
    assert_valid("ImagesResponse", body)
    url = body["data"][0]["url"]
    assert url == f"{fake.base_url}/files/image.png"
    image = requests.get(url, timeout=10)
    assert image.headers["content-type"] == "image/png" and image.content == TINY_PNG


def test_audio_transcriptions_in_each_format(fake):
    sdk = client(fake)
    audio = ("clip.wav", b"\r\n--" * 25)  # 100 bytes of line breaks and dashes, as in a multipart boundary

    assert sdk.audio.transcriptions.create(model="whisper-1", file=audio).text == "Transcribed 100 bytes"
    assert sdk.audio.transcriptions.create(model="whisper-1", file=audio, response_format="text").strip() == (
        "Transcribed 100 bytes"
    )
    srt = sdk.audio.transcriptions.create(model="whisper-1", file=audio, response_format="srt")
    assert "-->" in srt and "Transcribed 100 bytes" in srt
    verbose = requests.post(
        f"{fake.provider_url('alpha')}/audio/transcriptions",
        files={"file": audio},
        data={"model": "whisper-1", "response_format": "verbose_json"},
        timeout=10,
    ).json()
    assert_valid("CreateTranscriptionResponseVerboseJson", verbose)
    assert verbose["task"] == "transcribe" and verbose["segments"] == []
    recorded = fake.requests[-1]
    assert recorded.form["model"] == "whisper-1" and recorded.form["file"].data == audio[1]


def test_audio_speech_returns_tagged_audio(fake):
    speech = client(fake).audio.speech.create(model="tts-1", voice="alloy", input="hello", response_format="wav")
    assert speech.content[:4] == b"RIFF" and speech.response.headers["content-type"] == "audio/wav"
    mp3 = requests.post(
        f"{fake.provider_url('alpha')}/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": "hi"},
        timeout=10,
    )
    assert mp3.headers["content-type"] == "audio/mpeg"


def test_unknown_routes_are_404(fake):
    assert requests.get(f"{fake.provider_url('alpha')}/nope", timeout=10).status_code == 404
    assert requests.get(f"{fake.base_url}/alpha/v9/models", timeout=10).status_code == 404
    assert chat(fake, messages=[]).status_code == 400


# --- recording ------------------------------------------------------------------------------------


def test_requests_are_recorded_with_headers_body_and_query(fake):
    client(fake, default_headers={"x-trace": "t1"}).chat.completions.create(model="fake-model", messages=HELLO)
    requests.get(f"{fake.provider_url('beta')}/models?limit=2", timeout=10)

    alpha, beta = fake.requests_for("alpha"), fake.requests_for("beta")
    assert len(alpha) == 1 and len(beta) == 1 and len(fake.requests) == 2
    assert alpha[0].method == "POST" and alpha[0].path == "/alpha/v1/chat/completions"
    assert alpha[0].headers["authorization"] == "Bearer sk-test" and alpha[0].headers["x-trace"] == "t1"
    assert alpha[0].json == {"model": "fake-model", "messages": HELLO}
    assert orjson.loads(alpha[0].body) == alpha[0].json
    assert beta[0].query == {"limit": "2"} and beta[0].json is None
    fake.reset()
    assert fake.requests == []


def test_requests_are_recorded_before_faults_apply(fake):
    fake.set_fault("alpha", "500")
    assert chat(fake).status_code == 500
    assert fake.requests_for("alpha")[0].json["model"] == "fake-model"


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
