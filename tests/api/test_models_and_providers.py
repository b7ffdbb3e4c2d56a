"""GET /v1/models, /v1/models/{id}, /v1/providers, /v1/providers/{id}, /api/{provider}/models."""

import openai
import pytest

from tests.openapi import assert_valid


@pytest.fixture
def catalogue(gateway):
    gateway.add_provider("alpha", models=["chat-a", "shared"], priority=2)
    gateway.add_provider("beta", models=["shared"], capabilities=("chat", "vision"))
    gateway.add_provider("painter", models=["img-1"], capabilities=("image",))
    gateway.add_provider("locked", models=["secret-model"], needs_auth=True)
    gateway.add_provider("gone", models=["gone-model"], status="ignored")
    return gateway


def test_models_list_with_the_sdk(catalogue):
    models = {m.id: m.model_dump() for m in catalogue.openai().models.list()}
    assert {"chat-a", "shared", "img-1"} <= set(models)
    assert "secret-model" not in models and "gone-model" not in models  # not routable
    assert models["img-1"]["image"] is True and models["chat-a"]["image"] is False
    assert models["shared"]["vision"] is True
    assert models["alpha"]["provider"] is True and models["chat-a"]["provider"] is False
    assert "gone" not in models
    assert_valid("ListModelsResponse", catalogue.get("/v1/models").json())


def test_model_detail_and_not_found(catalogue):
    model = catalogue.openai().models.retrieve("shared")
    assert model.id == "shared"
    assert_valid("Model", catalogue.get("/v1/models/shared").json())
    with pytest.raises(openai.NotFoundError) as raised:
        catalogue.openai().models.retrieve("nope")
    assert raised.value.body["code"] == "model_not_found"


def test_model_names_with_slashes(gateway):
    gateway.add_provider("alpha", models=["meta-llama/Llama-3-8b"])
    assert gateway.get("/v1/models/meta-llama/Llama-3-8b").json()["id"] == "meta-llama/Llama-3-8b"


def test_providers_list_and_detail(catalogue):
    providers = {p["id"]: p for p in catalogue.get("/v1/providers").json()}
    assert {"alpha", "beta", "painter", "locked"} <= set(providers)
    assert "gone" not in providers
    assert providers["alpha"]["working"] is True and providers["locked"]["working"] is False
    assert providers["locked"]["auth"] is True
    detail = catalogue.get("/v1/providers/beta").json()
    assert detail["models"] == ["shared"] and detail["vision_models"] == ["shared"]
    assert catalogue.get("/v1/providers/painter").json()["image_models"] == ["img-1"]
    missing = catalogue.get("/v1/providers/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "provider_not_found"


def test_provider_models(catalogue):
    data = catalogue.get("/api/alpha/models").json()["data"]
    assert sorted(m["id"] for m in data) == ["chat-a", "shared"]
    assert catalogue.get("/api/nope/models").status_code == 404


def test_credentials_never_appear_in_responses(gateway):
    gateway.add_provider("alpha", api_key="sk-upstream-SECRET-123")
    for path in ("/v1/models", "/v1/providers", "/v1/providers/alpha", "/api/alpha/models"):
        assert "SECRET" not in gateway.get(path).text
    answer = gateway.post(
        "/v1/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]}
    )
    assert "SECRET" not in answer.text
    assert gateway.fake.requests_for("alpha")[-1].headers["authorization"] == "Bearer sk-upstream-SECRET-123"
