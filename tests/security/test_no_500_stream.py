"""An OpenAI-compatible upstream whose answer is JSON of the wrong shape (`choices` not a list of
objects, a `delta` that is not an object, text that is not a string) used to crash the chat consumer
(AttributeError / TypeError: a 500, or a stream cut off without an error event). Now it is the
provider's malformed answer: a 502 before the stream starts (with failover), an error event after."""

import logging

import pytest

from tests.helpers import sse_events
from tests.openapi import assert_valid

USER = [{"role": "user", "content": "hi"}]


def unhandled(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name == "g4f.request"]


@pytest.mark.parametrize("fault", ["odddelta", "oddcontent"])
def test_odd_chunk_mid_stream_ends_it_with_an_error_event(gateway, caplog, fault):
    gateway.add_provider("alpha", models=[f"m-fault-{fault}"])
    body = {"model": f"m-fault-{fault}", "messages": USER, "stream": True}
    response = gateway.post("/v1/chat/completions", body, stream=True)
    assert response.status_code == 200
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    error = events[-2]
    assert_valid("ErrorResponse", error)
    assert error["error"]["code"] == "provider_malformed_response"
    assert not unhandled(caplog)


def test_odd_first_chunk_is_a_502_before_the_stream(gateway, caplog):
    gateway.add_provider("alpha", models=["m-fault-oddchoices"])
    body = {"model": "m-fault-oddchoices", "messages": USER, "stream": True}
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 502, response.text
    assert_valid("ErrorResponse", response.json())
    assert response.json()["error"]["code"] == "provider_malformed_response"
    assert not unhandled(caplog)


def test_odd_first_chunk_fails_over_to_the_next_provider(gateway):
    gateway.add_provider("odd", priority=10)
    gateway.add_provider("good", priority=0)
    gateway.fake.set_fault("odd", "oddchoices")
    body = {"model": "fake-model", "messages": USER, "stream": True}
    response = gateway.post("/v1/chat/completions", body, stream=True)
    assert response.status_code == 200 and response.headers["x-provider"] == "good"
    events = sse_events(response)
    assert events[-1] == "[DONE]" and not any("error" in e for e in events if isinstance(e, dict))


def test_choices_that_are_not_objects_are_a_502(gateway, caplog):
    gateway.add_provider("alpha", models=["m-fault-oddchoices"])
    response = gateway.post("/v1/chat/completions", {"model": "m-fault-oddchoices", "messages": USER})
    assert response.status_code == 502, response.text
    assert_valid("ErrorResponse", response.json())
    assert response.json()["error"]["code"] == "provider_malformed_response"
    assert not unhandled(caplog)
