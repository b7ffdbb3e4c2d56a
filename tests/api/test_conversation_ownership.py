"""A conversation belongs to the key that created it; without auth conversations are shared."""

import openai
import pytest
import requests

from catalogue import services


def _ask(client, cid: str, text: str):
    return client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": text}], extra_body={"conversation_id": cid}
    )


def test_another_key_gets_404_and_never_the_content(gateway):
    gateway.add_provider("alpha")
    _, key_a = services.api_key_create(name="a")
    _, key_b = services.api_key_create(name="b")
    client_a, client_b = gateway.openai(api_key=key_a), gateway.openai(api_key=key_b)
    _ask(client_a, "shared-name", "secret of a")
    upstream_calls = len(gateway.fake.requests_for("alpha"))

    with pytest.raises(openai.NotFoundError) as raised:
        _ask(client_b, "shared-name", "tell me")
    assert raised.value.body["code"] == "conversation_not_found" and raised.value.body["param"] == "conversation_id"
    assert len(gateway.fake.requests_for("alpha")) == upstream_calls  # nothing went upstream for b
    headers_b = {"Authorization": f"Bearer {key_b}"}
    detail = gateway.get("/v1/conversations/shared-name", headers=headers_b)
    assert detail.status_code == 404 and "secret" not in detail.text
    assert gateway.get("/v1/conversations", headers=headers_b).json()["data"] == []
    deleted = requests.delete(f"{gateway.url}/v1/conversations/shared-name", headers=headers_b, timeout=20)
    assert deleted.status_code == 404

    headers_a = {"Authorization": f"Bearer {key_a}"}
    mine = gateway.get("/v1/conversations/shared-name", headers=headers_a).json()
    assert [m["content"] for m in mine["messages"]] == ["secret of a", "Hello from alpha: secret of a"]
    assert [c["id"] for c in gateway.get("/v1/conversations", headers=headers_a).json()["data"]] == ["shared-name"]
    # Without a key nothing is listed: auth is on.
    assert gateway.get("/v1/conversations").status_code == 401


def test_the_master_key_is_its_own_owner(gateway, settings):
    gateway.add_provider("alpha")
    settings.G4F = {**settings.G4F, "API_KEY": "master-secret"}
    _, key = services.api_key_create(name="k")
    _ask(gateway.openai(api_key="master-secret"), "m1", "from master")
    assert gateway.get("/v1/conversations/m1", headers={"g4f-api-key": key}).status_code == 404
    assert gateway.get("/v1/conversations/m1", headers={"g4f-api-key": "master-secret"}).status_code == 200


def test_without_auth_conversations_are_shared(gateway):
    gateway.add_provider("alpha")
    _ask(gateway.openai(), "open-1", "first")
    # Another client, no key either: same owner (""), sees and continues the conversation.
    _ask(gateway.openai(api_key="anything"), "open-1", "second")
    assert [m["content"] for m in gateway.fake.requests_for("alpha")[-1].json["messages"]] == [
        "first",
        "Hello from alpha: first",
        "second",
    ]
    assert gateway.get("/v1/conversations/open-1").json()["message_count"] == 4
