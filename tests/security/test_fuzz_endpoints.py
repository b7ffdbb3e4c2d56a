"""Property-based fuzzing of every JSON and multipart endpoint through the live gateway: no request,
however odd its body, path, method or headers, gets a 5xx, and every error is OpenAI's ErrorResponse.

Bounded and reproducible: `derandomize=True` (the same examples on every run), no example database,
`max_examples` per test from `BUDGET` (about 40 s in all on a loaded 2-core machine), printed at the start.
Locally, FUZZ_SCALE=10 runs ten times the examples, and FUZZ_RANDOM=1 new random ones on each run
(with pytest's `--hypothesis-seed=N` to repeat one).
"""

import http.client
import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.protocol_helpers import add_provider
from tests.openapi import assert_valid
from tests.security import fuzz_strategies as fs

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
BUDGET = {  # max_examples per test
    "chat": 150,
    "images": 50,
    "speech": 50,
    "transcriptions": 50,
    "cookies": 50,
    "catalogue": 60,
    "anything": 100,
}
FUZZ = settings(
    deadline=None,
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Paths whose errors must be in the OpenAI shape; the others ("/", the GUI page, the admin) answer
# Django's own pages for some errors (a cross-origin POST's CSRF 403), and must only never be a 5xx.
API_PATHS = ("/v1/", "/api/", "/media/", "/static/")
PROVIDERS = ["alpha", "anthropic-fake", "gemini-fake", "pix", "voice", "ears"]


def budget(name: str) -> settings:
    return settings(FUZZ, max_examples=max(1, int(BUDGET[name] * SCALE)))


@pytest.fixture(scope="module", autouse=True)
def announce_budget(request):
    """Print the budget before the fuzz tests and their duration after, past pytest's capture."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    started = time.monotonic()
    line = ", ".join(f"{name} {int(count * SCALE)}" for name, count in BUDGET.items())
    with capture.global_and_fixture_disabled():
        print(f"\nfuzz budget (max_examples per test{'' if FUZZ.derandomize else ', random'}): {line}")
    yield
    with capture.global_and_fixture_disabled():
        print(f"\nfuzz tests took {time.monotonic() - started:.1f} s")


@pytest.fixture
def fuzzed(gateway):
    """The live gateway with a provider of each protocol and one for each media capability."""
    gateway.add_provider("alpha", models=["fake-model"])
    add_provider(gateway, "anthropic")
    add_provider(gateway, "gemini")
    gateway.add_provider("pix", models=["fake-image"], capabilities=("image",))
    gateway.add_provider("voice", models=["tts-fake"], capabilities=("speech",))
    gateway.add_provider("ears", models=["whisper-1"], capabilities=("transcription",))
    return gateway


def send(gateway, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    """One request with the path exactly as given; returns (status, content type, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        connection.close()


def check(method: str, path: str, status: int, content_type: str, body: bytes) -> None:
    """No 5xx; an error has OpenAI's ErrorResponse body; a stream's error events too."""
    where = f"{method} {path} -> {status}: {body[:300]!r}"
    assert status < 500, where
    if content_type.startswith("text/event-stream"):
        for line in body.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                event = json.loads(line[6:])
                if "error" in event:
                    assert_valid("ErrorResponse", event)
        return
    if status >= 400 and method != "HEAD" and path.startswith(API_PATHS):
        assert content_type.startswith("application/json"), where
        assert_valid("ErrorResponse", json.loads(body))


def call(gateway, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    check(method, path, *send(gateway, method, path, body, headers))


providers = st.sampled_from(PROVIDERS) | fs.odd_segments


@budget("chat")
@given(
    body=fs.json_body(fs.chat_bodies),
    route=st.sampled_from(["/v1/chat/completions", "/api/{p}/chat/completions", "/api/{p}/{c}/chat/completions"]),
    provider=providers,
    conversation=st.sampled_from(["conv-1", "x" * 64]) | fs.odd_segments,
)
def test_chat(fuzzed, body, route, provider, conversation):
    path = route.format(p=provider, c=conversation)
    call(fuzzed, "POST", path, body, {"content-type": "application/json"})


@budget("images")
@given(
    body=fs.json_body(fs.image_bodies),
    path=st.sampled_from(["/v1/images/generations", "/api/pix/images/generations"]),
)
def test_images(fuzzed, body, path):
    call(fuzzed, "POST", path, body, {"content-type": "application/json"})


@budget("speech")
@given(body=fs.json_body(fs.speech_bodies), path=st.sampled_from(["/v1/audio/speech", "/api/voice/audio/speech"]))
def test_speech(fuzzed, body, path):
    call(fuzzed, "POST", path, body, {"content-type": "application/json"})


@budget("transcriptions")
@given(
    body=fs.audio_forms,
    content_type=fs.multipart_types,
    path=st.sampled_from(["/v1/audio/transcriptions", "/api/ears/audio/transcriptions"]),
)
def test_transcriptions(fuzzed, body, content_type, path):
    call(fuzzed, "POST", path, body, {"content-type": content_type})


@budget("cookies")
@given(body=fs.cookie_forms, content_type=fs.multipart_types)
def test_upload_cookies(fuzzed, body, content_type):
    call(fuzzed, "POST", "/v1/upload_cookies", body, {"content-type": content_type})


@budget("catalogue")
@given(
    template=st.sampled_from(
        [
            "/v1/conversations/{x}",
            "/v1/conversations?limit={x}&after={x}",
            "/v1/models/{x}",
            "/v1/providers/{x}",
            "/api/{x}/models",
            "/media/{x}",
            "/static/gui/{x}",
        ]
    ),
    segment=fs.odd_segments,
    method=st.sampled_from(["GET", "DELETE", "HEAD"]),
)
def test_catalogue_and_files_with_odd_names(fuzzed, template, segment, method):
    call(fuzzed, method, template.format(x=segment))


@budget("anything")
@given(
    method=fs.methods,
    template=st.sampled_from(
        [
            "/",
            "/{x}",
            "/v1/{x}",
            "/v1/chat/completions",
            "/v1/images/generations",
            "/v1/audio/speech",
            "/v1/audio/transcriptions",
            "/v1/upload_cookies",
            "/v1/conversations",
            "/v1/models",
            "/v1/providers",
            "/api/{x}/{x}",
            "/chat/",
            "/admin/{x}",
        ]
    ),
    segment=fs.odd_segments,
    headers=fs.odd_headers,
    body=st.binary(max_size=40),
)
def test_odd_methods_paths_and_headers(fuzzed, method, template, segment, headers, body):
    call(fuzzed, method, template.format(x=segment), body, headers)
