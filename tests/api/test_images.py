"""POST /v1/images/generations through the openai SDK: URL and base64 answers, validation, failover."""

import base64

import openai
import pytest
import requests

from tests.fake_upstream.assets import TINY_PNG
from tests.openapi import assert_valid


@pytest.fixture
def images(gateway):
    gateway.add_provider("pix", models=["fake-image"], capabilities=("image",))
    return gateway


def test_url_answer_is_stored_and_served_from_media(images):
    result = images.openai().images.generate(model="fake-image", prompt="a red square", response_format="url")
    url = result.data[0].url
    assert url.startswith(f"{images.url}/media/") and url.endswith(".png")
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == TINY_PNG and fetched.headers["content-type"] == "image/png"
    sent = images.fake.requests_for("pix")
    assert sent[0].json["prompt"] == "a red square" and sent[0].json["model"] == "fake-image"
    # The gateway downloaded the upstream's URL itself: the fake's /files/image.png was requested.
    assert any(r.path == "/files/image.png" for r in images.fake.requests)


def test_b64_answer_with_n_and_schema(images):
    response = images.post(
        "/v1/images/generations",
        {"model": "fake-image", "prompt": "two", "n": 2, "size": "512x512", "response_format": "b64_json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid("ImagesResponse", body)
    assert [base64.b64decode(item["b64_json"]) for item in body["data"]] == [TINY_PNG, TINY_PNG]
    assert body["provider"] == "pix" and response.headers["x-provider"] == "pix"
    assert images.fake.requests_for("pix")[0].json["size"] == "512x512"


def test_sdk_b64_json(images):
    result = images.openai().images.generate(model="fake-image", prompt="b64", response_format="b64_json")
    assert base64.b64decode(result.data[0].b64_json) == TINY_PNG


def test_url_schema_and_public_base_url(images, settings):
    settings.G4F = {**settings.G4F, "PUBLIC_BASE_URL": "https://gw.example.com/"}
    body = images.post("/v1/images/generations", {"model": "fake-image", "prompt": "x"}).json()
    assert_valid("ImagesResponse", body)
    url = body["data"][0]["url"]
    assert url.startswith("https://gw.example.com/media/")
    assert images.get("/media/" + url.rsplit("/", 1)[1]).content == TINY_PNG


def test_pinned_provider_route(images):
    images.add_provider("other", models=["fake-image"], capabilities=("image",), priority=100)
    response = images.post("/api/pix/images/generations", {"model": "fake-image", "prompt": "x"})
    assert response.status_code == 200 and response.headers["x-provider"] == "pix"


def test_failover_to_the_next_image_provider(images):
    images.add_provider("broken", models=["fake-image"], capabilities=("image",), priority=100)
    images.fake.set_fault("broken", "500")
    response = images.post(
        "/v1/images/generations", {"model": "fake-image", "prompt": "x", "response_format": "b64_json"}
    )
    assert response.status_code == 200 and response.json()["provider"] == "pix"
    assert len(images.fake.requests_for("broken")) == 1


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": "fake-image"}, "prompt"),
        ({"model": "fake-image", "prompt": "  "}, "prompt"),
        ({"model": "fake-image", "prompt": "x", "n": 5}, "n"),
        ({"model": "fake-image", "prompt": "x", "n": 0}, "n"),
        ({"model": "fake-image", "prompt": "x", "size": "13x13"}, "size"),
        ({"model": "fake-image", "prompt": "x", "size": "big"}, "size"),
        ({"model": "fake-image", "prompt": "x", "response_format": "xml"}, "response_format"),
    ],
)
def test_invalid_requests_name_the_field(images, body, param):
    response = images.post("/v1/images/generations", body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert not images.fake.requests_for("pix")


def test_unknown_model_and_model_without_image_capability(images):
    images.add_provider("chatty", models=["fake-model"], capabilities=("chat",))
    with pytest.raises(openai.NotFoundError):
        images.openai().images.generate(model="no-such-model", prompt="x")
    response = images.post("/v1/images/generations", {"model": "fake-model", "prompt": "x"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported_capability"


def test_upstream_answer_that_is_not_an_image(images):
    images.fake.set_fault("pix", "malformed")
    response = images.post("/v1/images/generations", {"model": "fake-image", "prompt": "x"})
    assert response.status_code == 502
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_usage_is_recorded(images):
    from catalogue.models import UsageRecord
    from completions.usage import usage_recorder

    images.post("/v1/images/generations", {"model": "fake-image", "prompt": "x", "response_format": "b64_json"})
    import time

    deadline = time.monotonic() + 5  # the record is queued just after the answer is sent
    while not UsageRecord.objects.filter(endpoint="images").exists() and time.monotonic() < deadline:
        usage_recorder.flush()
        time.sleep(0.02)
    record = UsageRecord.objects.get(endpoint="images")
    assert record.success and record.provider == "pix" and record.model == "fake-image" and record.status_code == 200


def test_without_model_the_default_image_model_is_used(images, settings):
    """OpenAI and the seed treat `model` as optional: the GUI's image button sends none (issue 17 item 5)."""
    settings.G4F = {**settings.G4F, "DEFAULT_IMAGE_MODEL": "fake-image"}
    result = images.openai().images.generate(prompt="a cat", response_format="b64_json")
    assert base64.b64decode(result.data[0].b64_json) == TINY_PNG
    assert images.fake.requests_for("pix")[-1].json["model"] == "fake-image"
