"""The Conversation admin over HTTP: messages inline, searchable by id, key and model."""

from catalogue import services


def test_conversations_are_searchable_and_show_their_messages(gateway, admin_session):
    gateway.add_provider("alpha", models=["fake-model", "other-model"])
    _, key = services.api_key_create(name="team-blue")
    client = gateway.openai(api_key=key)
    client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "first question"}],
        extra_body={"conversation_id": "blue-1"},
    )
    client.chat.completions.create(
        model="other-model",
        messages=[{"role": "user", "content": "second topic"}],
        extra_body={"conversation_id": "blue-2"},
    )
    url = f"{gateway.url}/admin/catalogue/conversation/"

    def found(query: str) -> set[str]:
        page = admin_session.get(url, params={"q": query}, timeout=10)
        assert page.status_code == 200
        return {cid for cid in ("blue-1", "blue-2") if f"/{cid}/change/" in page.text}

    assert found("") == {"blue-1", "blue-2"}
    assert found("blue-1") == {"blue-1"}  # by id
    assert found("team-blue") == {"blue-1", "blue-2"}  # by key name
    assert found("other-model") == {"blue-2"}  # by model
    detail = admin_session.get(f"{url}blue-1/change/", timeout=10)
    assert detail.status_code == 200
    assert "first question" in detail.text and "Hello from alpha: first question" in detail.text
