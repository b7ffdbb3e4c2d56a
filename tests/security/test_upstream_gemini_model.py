"""Issue 13 item 13: a model name cannot move a Gemini request to another path on the upstream host
(which would carry the operator's key there)."""

import pytest

KEY = "gm-operator-key"


@pytest.fixture
def gemini(gateway):
    gateway.add_provider("gem", models=["gemini-fake"], adapter="gemini", api_key=KEY)
    return gateway


def chat(gateway, model, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    return gateway.post("/api/gem/chat/completions", body)


@pytest.mark.parametrize("model", ["../../x?y=", "models/../../admin", "a/b", "x#frag", "..\\..\\x", ".."])
@pytest.mark.parametrize("stream", [False, True])
def test_model_names_that_leave_the_model_path_are_refused_before_any_request(gemini, model, stream):
    answer = chat(gemini, model, stream=stream)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "model" and "one path segment" in error["message"]
    assert gemini.fake.requests == []


def test_a_passed_through_name_is_quoted_into_one_segment(gemini):
    answer = chat(gemini, "tuned:v1%2F..")
    sent = gemini.fake.requests
    assert len(sent) == 1 and sent[0].path == "/gem/v1beta/models/tuned:v1%2F..:generateContent"
    assert sent[0].headers["x-goog-api-key"] == KEY
    assert answer.status_code in (404, 502)  # the fake has no such model, and said so
