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
    listing = catalogue.get("/v1/providers").json()
    assert listing["object"] == "list"
    providers = {p["provider"]: p for p in listing["data"]}
    assert {"alpha", "beta", "painter", "locked"} <= set(providers)
    assert "gone" not in providers
    alpha = providers["alpha"]
    assert (
        alpha["models"] == ["chat-a", "shared"]
        and alpha["image_models"] == []
        and alpha["vision_models"] == alpha["models"]
    )
    assert alpha["working"] is True and alpha["auth"] is False and "url" in alpha
    assert providers["painter"]["image_models"] == ["img-1"] and providers["painter"]["models"] == []
    assert providers["locked"]["working"] is False and providers["locked"]["auth"] is True
    detail = catalogue.get("/v1/providers/beta").json()
    assert detail["provider"] == "beta" and detail["stream"] is True and detail["description"] == ""
    assert detail["models"] == ["shared"] and detail["vision_models"] == ["shared"]
    assert catalogue.get("/v1/providers/painter").json()["image_models"] == ["img-1"]
    missing = catalogue.get("/v1/providers/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "provider_not_found"


def test_one_word_for_each_provider_state(catalogue, admin_session):
    """The API, its `working` flag and the admin's provider list say the same thing."""
    catalogue.add_provider("broken", models=["b-model"], status="not_working")
    providers = {p["provider"]: p for p in catalogue.get("/v1/providers").json()["data"]}
    expected = {"alpha": "working", "locked": "needs_credential", "broken": "not_working"}
    assert {name: providers[name]["status"] for name in expected} == expected
    assert [providers[name]["working"] for name in expected] == [True, False, False]
    assert catalogue.get("/v1/providers/locked").json()["status_reason"] == "no credential configured"
    page = admin_session.get(f"{catalogue.url}/admin/catalogue/provider/", timeout=10).text
    rows = {
        name: page[page.index(f">{name}</a>") :].split("</tr>")[0] for name in ("alpha", "locked", "broken", "gone")
    }
    assert "Working" in rows["alpha"] and "Needs credential" in rows["locked"]
    assert "Not working" in rows["broken"] and "Ignored" in rows["gone"]
    assert "Working" not in rows["locked"]


def test_providers_listed_as_models_are_models(catalogue):
    """A provider's entry in `/v1/models` can be retrieved and chosen: its first chat model answers."""
    client = catalogue.openai()
    assert client.models.retrieve("alpha").model_dump()["provider"] is True
    reply = client.chat.completions.create(model="alpha", messages=[{"role": "user", "content": "hi"}])
    assert reply.model == "chat-a" and reply.model_dump()["provider"] == "alpha"
    assert catalogue.fake.requests_for("alpha")[-1].json["model"] == "chat-a"
    reply = client.chat.completions.create(model="beta", messages=[{"role": "user", "content": "hi"}])
    assert reply.model_dump()["provider"] == "beta" and reply.model == "shared"
    with pytest.raises(openai.NotFoundError) as raised:  # ignored: not listed, not a model
        client.chat.completions.create(model="gone", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.body["code"] == "model_not_found"
    with pytest.raises(openai.InternalServerError) as raised:  # as for its models: 503 saying why
        client.chat.completions.create(model="locked", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 503 and "no credential configured" in raised.value.body["message"]


def test_model_lookup_follows_the_list(catalogue):
    """An id `/v1/models` leaves out (no usable provider) is a 404 there too."""
    listed = {m["id"] for m in catalogue.get("/v1/models").json()["data"]}
    for name in ("secret-model", "gone-model", "locked", "gone", "nope"):
        assert name not in listed
        response = catalogue.get(f"/v1/models/{name}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found", name
    for name in listed:
        assert catalogue.get(f"/v1/models/{name}").json()["id"] == name


def test_model_entries_say_which_serve_chat(gateway):
    """The GUI's chat picker offers entries with `chat`; a speech model is not one."""
    gateway.add_provider("talker", models=["tts-1"], capabilities=("speech",))
    gateway.add_provider("alpha", models=["chat-a"], capabilities=("chat",))
    models = {m["id"]: m for m in gateway.get("/v1/models").json()["data"]}
    assert models["tts-1"]["chat"] is False and models["tts-1"]["audio"] is True
    assert models["chat-a"]["chat"] is True


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
