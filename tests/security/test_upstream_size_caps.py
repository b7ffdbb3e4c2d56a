"""Issue 13 item 11: an upstream answer is capped while it is read, decompressed bytes counted.

The fake's `bomb` fault answers gzip that inflates to 16 MB from about 16 KB on the wire: a JSON body
followed by whitespace (valid JSON), or a stream with 32 KB comment lines after its first event
(valid SSE). Each test runs a gateway of its own with caps below that."""

import json

import pytest

from tests.security.gateways import own_gateway  # noqa: F401

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
MB = 1024 * 1024


def stream_error(response) -> dict:
    """The error of a stream that failed before its first chunk (a status) or after (an SSE event)."""
    if response.status_code != 200:
        return response.json()["error"]
    events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith(b"data: {")]
    errors = [event["error"] for event in events if "error" in event]
    assert errors, "the stream ended without an error"
    return errors[0]


def test_json_answer_past_the_cap_is_a_502(own_gateway):  # noqa: F811
    gateway = own_gateway(UPSTREAM_MAX_BODY_BYTES=MB)
    gateway.add_provider("bomber")
    gateway.fake.set_fault("bomber", "bomb")
    response = gateway.post("/v1/chat/completions", CHAT)
    assert response.status_code == 502, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "provider_response_too_large" and f"{MB} bytes" in error["message"]


@pytest.mark.parametrize(
    ("caps", "what"),
    [({"UPSTREAM_MAX_LINE_BYTES": 16 * 1024}, "stream line"), ({"UPSTREAM_MAX_STREAM_BYTES": 2 * MB}, "stream is")],
)
def test_stream_past_a_line_or_total_cap_ends_with_a_clear_error(own_gateway, caps, what):  # noqa: F811
    gateway = own_gateway(**caps)
    gateway.add_provider("bomber")
    gateway.fake.set_fault("bomber", "bomb")
    response = gateway.post("/v1/chat/completions", {**CHAT, "stream": True}, stream=True)
    error = stream_error(response)
    assert error["code"] == "provider_response_too_large" and what in error["message"]


def test_answers_under_the_caps_are_untouched(own_gateway):  # noqa: F811
    gateway = own_gateway(UPSTREAM_MAX_BODY_BYTES=64 * 1024, UPSTREAM_MAX_LINE_BYTES=4096)
    gateway.add_provider("plain")
    assert gateway.post("/v1/chat/completions", CHAT).status_code == 200
    response = gateway.post("/v1/chat/completions", {**CHAT, "stream": True}, stream=True)
    assert response.status_code == 200 and b"[DONE]" in response.content
