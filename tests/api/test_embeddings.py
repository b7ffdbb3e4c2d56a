"""`POST /v1/embeddings` through the official `openai` SDK and plain HTTP, against the fake upstream's
OpenAI-compatible `/embeddings` and Gemini `batchEmbedContents` (tests/fake_upstream/)."""

import base64
import struct
import time

import openai
import pytest
from django.core.exceptions import ValidationError

from catalogue.models import UsageRecord, validate_capabilities
from completions.usage import usage_recorder
from tests.api.protocol_helpers import KEYS
from tests.fake_upstream.openai_protocol import fake_embedding
from tests.openapi import assert_valid

MODEL = "embed-fake"


def add_embedder(gateway, name: str, adapter: str = "openai", model: str = MODEL, **fields) -> str:
    if adapter in KEYS:
        fields.setdefault("api_key", KEYS[adapter])
    gateway.add_provider(name, models=[model], capabilities=("embedding",), adapter=adapter, **fields)
    return name


def floats(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def embed(gateway, **body):
    response = gateway.post("/v1/embeddings", {"model": MODEL, **body})
    assert response.status_code == 200, response.text
    return response


def usage_row(endpoint: str = "embeddings") -> UsageRecord:
    deadline = time.monotonic() + 5  # the row is queued just after the answer is sent
    while not UsageRecord.objects.filter(endpoint=endpoint).exists() and time.monotonic() < deadline:
        usage_recorder.flush()
        time.sleep(0.02)
    return UsageRecord.objects.get(endpoint=endpoint)


@pytest.mark.parametrize("adapter", ["openai", "gemini"])
def test_sdk_embeds_floats_and_base64(gateway, adapter):
    add_embedder(gateway, f"{adapter}-emb", adapter)
    client = gateway.openai()
    as_floats = client.embeddings.create(model=MODEL, input=["hello world", "bye"], encoding_format="float")
    assert [item.embedding for item in as_floats.data] == [fake_embedding("hello world", 8), fake_embedding("bye", 8)]
    assert [item.index for item in as_floats.data] == [0, 1]
    assert as_floats.model == MODEL and as_floats.usage.prompt_tokens > 0
    decoded = client.embeddings.create(model=MODEL, input="hello world")  # the SDK asks for base64 and decodes it
    assert decoded.data[0].embedding == fake_embedding("hello world", 8)


def test_answer_shape_and_the_openai_upstream_request(gateway):
    add_embedder(gateway, "alpha")
    response = embed(gateway, input="hello world", user="u-1")
    assert_valid("CreateEmbeddingResponse", response.json())
    body = response.json()
    assert body["object"] == "list" and body["provider"] == "alpha" and response.headers["x-provider"] == "alpha"
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    sent = gateway.fake.requests_for("alpha")[-1]
    assert sent.path == "/alpha/v1/embeddings"
    assert sent.json == {"model": MODEL, "input": "hello world", "encoding_format": "float", "user": "u-1"}


def test_base64_is_passed_through_or_made_from_floats(gateway):
    add_embedder(gateway, "alpha")
    add_embedder(gateway, "plain", model="embed-floats-only")
    passed = embed(gateway, input="hi", encoding_format="base64").json()["data"][0]["embedding"]
    assert gateway.fake.requests_for("alpha")[-1].json["encoding_format"] == "base64"
    made = gateway.post("/v1/embeddings", {"model": "embed-floats-only", "input": "hi", "encoding_format": "base64"})
    assert made.status_code == 200, made.text
    assert isinstance(passed, str) and floats(passed) == fake_embedding("hi", 8)
    assert floats(made.json()["data"][0]["embedding"]) == fake_embedding("hi", 8)


def test_gemini_batch_embed_contents_with_dimensions(gateway):
    name = add_embedder(gateway, "gem", "gemini")
    body = embed(gateway, input=["one", "two words"], dimensions=4, encoding_format="base64").json()
    assert [floats(item["embedding"]) for item in body["data"]] == [fake_embedding(t, 4) for t in ("one", "two words")]
    assert body["usage"]["prompt_tokens"] > 0  # Gemini reports none: estimated
    sent = gateway.fake.requests_for(name)[-1]
    assert sent.path == f"/{name}/v1beta/models/{MODEL}:batchEmbedContents"
    assert sent.headers["x-goog-api-key"] == KEYS["gemini"]
    assert sent.json == {
        "requests": [
            {"model": f"models/{MODEL}", "content": {"parts": [{"text": text}]}, "outputDimensionality": 4}
            for text in ("one", "two words")
        ]
    }


def test_openai_dimensions_and_token_arrays_pass_through(gateway):
    add_embedder(gateway, "alpha")
    client = gateway.openai()
    answer = client.embeddings.create(model=MODEL, input=[[1, 2, 3], [40, 2]], dimensions=5, encoding_format="float")
    assert [item.embedding for item in answer.data] == [fake_embedding([1, 2, 3], 5), fake_embedding([40, 2], 5)]
    assert answer.usage.prompt_tokens == 5
    sent = gateway.fake.requests_for("alpha")[-1].json
    assert sent["input"] == [[1, 2, 3], [40, 2]] and sent["dimensions"] == 5
    single = client.embeddings.create(model=MODEL, input=[7, 8], encoding_format="float")
    assert len(single.data) == 1 and single.data[0].embedding == fake_embedding([7, 8], 8)


def test_token_arrays_to_gemini_are_a_clear_400(gateway):
    add_embedder(gateway, "gem", "gemini")
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.openai().embeddings.create(model=MODEL, input=[[1, 2, 3]])
    assert "token arrays" in str(caught.value)
    assert caught.value.body["code"] == "unsupported_capability"


def test_a_protocol_without_embeddings_is_a_clear_400(gateway):
    add_embedder(gateway, "claude", "anthropic")
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.openai().embeddings.create(model=MODEL, input="hi")
    assert "'anthropic' protocol does not support embeddings" in str(caught.value)
    assert gateway.fake.requests_for("claude") == []


def test_a_model_without_the_embedding_capability_is_refused(gateway):
    gateway.add_provider("chatty", models=["fake-model"], capabilities=("chat",))
    response = gateway.post("/v1/embeddings", {"model": "fake-model", "input": "hi"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported_capability"
    assert gateway.fake.requests_for("chatty") == []


def test_fails_over_and_records_usage(gateway):
    add_embedder(gateway, "first", priority=2)
    add_embedder(gateway, "second", priority=1)
    gateway.fake.set_fault("first", "500")
    response = embed(gateway, input="hello there world")
    assert response.json()["provider"] == "second" and response.headers["x-attempts"] == "2"
    record = usage_row()
    assert record.success and record.provider == "second" and record.model == MODEL and record.attempts == 2
    assert record.prompt_tokens == 3 and record.completion_tokens == 0


def test_a_malformed_answer_fails_over(gateway):
    add_embedder(gateway, "broken", priority=2)
    add_embedder(gateway, "backup", priority=1)
    gateway.fake.set_fault("broken", "empty")
    assert embed(gateway, input="hi").json()["provider"] == "backup"


def test_provider_route(gateway):
    add_embedder(gateway, "alpha")
    add_embedder(gateway, "beta")
    response = gateway.post("/api/beta/embeddings", {"input": "hi"})
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "beta" and response.json()["model"] == MODEL


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["a", 1]}, "input"),
        ({"input": [[1], []]}, "input"),
        ({"input": ["x"] * 2049}, "input"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "dimensions": True}, "dimensions"),
        ({"input": "x", "model": 5}, "model"),
    ],
)
def test_validation_errors_in_openai_shape(gateway, body, param):
    add_embedder(gateway, "alpha")
    response = gateway.post("/v1/embeddings", {"model": MODEL, **body})
    assert response.status_code == 400
    assert_valid("ErrorResponse", response.json())
    assert response.json()["error"]["param"] == param
    assert gateway.fake.requests_for("alpha") == []


def test_body_that_is_not_json(gateway):
    response = gateway.post("/v1/embeddings", data=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_the_catalogue_and_admin_validator_know_the_capability():
    validate_capabilities(["embedding"])  # what the admin's form and the model run
    with pytest.raises(ValidationError, match="Known: .*embedding"):
        validate_capabilities(["embeddings"])
