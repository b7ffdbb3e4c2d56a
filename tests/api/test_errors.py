"""Every bad input gets an OpenAI-style error with the right status; never a 500."""

import openai
import pytest
import requests

from tests.openapi import assert_valid

USER = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    "body,param",
    [
        ({"model": "fake-model", "messages": USER, "temperature": 2.5}, "temperature"),
        ({"model": "fake-model", "messages": USER, "temperature": "hot"}, "temperature"),
        ({"model": "fake-model", "messages": USER, "top_p": 1.5}, "top_p"),
        ({"model": "fake-model", "messages": USER, "presence_penalty": -3}, "presence_penalty"),
        ({"model": "fake-model", "messages": USER, "frequency_penalty": 2.1}, "frequency_penalty"),
        ({"model": "fake-model", "messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"model": "fake-model", "messages": USER, "n": 0}, "n"),
        ({"model": "fake-model", "messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"model": "fake-model", "messages": USER, "stream": "yes please"}, "stream"),
        ({"model": "fake-model", "messages": []}, "messages"),
        ({"model": "fake-model"}, "messages"),
        ({"model": "fake-model", "messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        ({"model": "fake-model", "messages": [{"role": "user"}]}, "messages"),
        ({"model": "fake-model", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages"),
        ({"model": "fake-model", "messages": USER, "response_format": {"type": "yaml"}}, "response_format"),
        ({"model": "fake-model", "messages": USER, "tools": [{"type": "function"}]}, "tools"),
        ({"model": "fake-model", "messages": USER, "tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": USER}, "model"),
    ],
)
def test_validation_errors_name_the_field(gateway, body, param):
    gateway.add_provider("alpha")
    response = gateway.post("/v1/chat/completions", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert_valid("ErrorResponse", response.json())


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_bad_json(gateway, raw):
    response = gateway.post("/v1/chat/completions", data=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_not_found_errors_raise_the_sdk_types(gateway):
    gateway.add_provider("alpha")
    client = gateway.openai()
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=USER)
    assert raised.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="fake-model", messages=USER, extra_body={"provider": "nope"})
    assert raised.value.body["code"] == "provider_not_found"
    assert gateway.post("/api/nope/chat/completions", {"model": "fake-model", "messages": USER}).status_code == 404


def test_ignored_and_not_working_providers_say_so(gateway):
    gateway.add_provider("off", status="ignored")
    gateway.add_provider("down", status="not_working", models=["other"])
    response = gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER, "provider": "off"})
    assert response.status_code == 503 and "ignored" in response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "provider_not_working"
    response = gateway.post("/v1/chat/completions", {"model": "other", "messages": USER})
    assert response.status_code == 503 and "not working" in response.json()["error"]["message"]


def test_providers_needing_a_key_are_skipped_until_one_is_set(gateway):
    gateway.add_provider("paid", needs_auth=True, priority=10)
    gateway.add_provider("free", priority=0)
    answer = gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER})
    assert answer.json()["provider"] == "free"
    gateway.add_provider("paid", api_key="sk-now-set")
    answer = gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER})
    assert answer.json()["provider"] == "paid"


def test_unknown_endpoints_and_methods(gateway):
    response = gateway.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = gateway.get("/v1/chat/completions")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    response = gateway.post("/v1/models", {})
    assert response.status_code == 405 and "error" in response.json()


@pytest.mark.parametrize("method,path", [("POST", "/"), ("DELETE", "/"), ("POST", "/chat/"), ("PUT", "/media/x.png")])
def test_read_only_pages_answer_other_methods_with_a_json_405(gateway, method, path):
    """Not Django's HTML CSRF page: a client posting to the wrong URL reads an error it can parse."""
    response = requests.request(method, gateway.url + path, json={}, timeout=10)
    assert response.status_code == 405, response.text[:200]
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, HEAD"
    assert requests.get(gateway.url + "/", timeout=10).json()["api_base"] == "/v1"


def test_upstream_client_error_is_a_400(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_fault("alpha", "400")
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.openai().chat.completions.create(model="fake-model", messages=USER)
    assert raised.value.body["code"] == "upstream_bad_request"


def test_oversized_body_is_refused(gateway, settings):
    from g4fsite.conf import gateway_settings

    gateway.add_provider("alpha")
    settings.G4F = {**settings.G4F, "MAX_REQUEST_BYTES": 1000}
    assert gateway_settings.MAX_REQUEST_BYTES == 1000
    response = gateway.post(
        "/v1/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": "x" * 5000}]}
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
