"""The fake upstream's normal answers for each endpoint, and its request log."""

from __future__ import annotations

import base64
import json
import time

import orjson
import pytest
import requests

from tests.fake_upstream.assets import TINY_PNG
from tests.fake_upstream_selftest.talk import HELLO, TOOLS, chat, client, sse_data
from tests.openapi import assert_valid

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
