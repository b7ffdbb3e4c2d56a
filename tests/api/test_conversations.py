"""Conversations the server remembers, end to end with the openai SDK against the fake upstream."""

import uuid

import pytest

from tests.openapi import assert_valid


def user_body(text: str) -> dict:
    return {"model": "fake-model", "messages": [{"role": "user", "content": text}]}


def new_id() -> str:
    return uuid.uuid4().hex


def sent_messages(gateway, provider: str = "alpha") -> list[dict]:
    return gateway.fake.requests_for(provider)[-1].json["messages"]


def ask(client, conversation_id: str, messages: list[dict]):
    return client.chat.completions.create(
        model="fake-model", messages=messages, extra_body={"conversation_id": conversation_id}
    )


def test_history_is_prepended_and_the_turn_stored(gateway):
    gateway.add_provider("alpha")
    client, cid = gateway.openai(), new_id()
    first = ask(client, cid, [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one"}])
    assert first.choices[0].message.content == "Hello from alpha: one"
    assert_valid("CreateChatCompletionResponse", first.model_dump(exclude_unset=True))
    second = ask(client, cid, [{"role": "user", "content": "two"}])
    assert second.choices[0].message.content == "Hello from alpha: two"
    assert sent_messages(gateway) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "Hello from alpha: one"},
        {"role": "user", "content": "two"},
    ]
    stored = gateway.get(f"/v1/conversations/{cid}").json()
    assert stored["id"] == cid and stored["title"] == "one" and stored["message_count"] == 5
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("system", "be brief"),
        ("user", "one"),
        ("assistant", "Hello from alpha: one"),
        ("user", "two"),
        ("assistant", "Hello from alpha: two"),
    ]
    reply = stored["messages"][2]
    assert reply["provider"] == "alpha" and reply["model"] == "fake-model" and reply["incomplete"] is False
    assert reply["usage"]["completion_tokens"] == first.usage.completion_tokens
    assert isinstance(reply["created_at"], int)


def test_a_full_resend_is_not_duplicated(gateway):
    gateway.add_provider("alpha")
    client, cid = gateway.openai(), new_id()
    history = [{"role": "user", "content": "one"}]
    first = ask(client, cid, history)
    # A plain OpenAI client resends everything, its reply as the SDK dumps it.
    history += [first.choices[0].message.model_dump(exclude_none=True), {"role": "user", "content": "two"}]
    ask(client, cid, history)
    assert [m["content"] for m in sent_messages(gateway)] == ["one", "Hello from alpha: one", "two"]
    stored = gateway.get(f"/v1/conversations/{cid}").json()["messages"]
    assert [m["content"] for m in stored] == ["one", "Hello from alpha: one", "two", "Hello from alpha: two"]


def test_a_repeated_system_message_is_kept_once_and_a_new_one_replaces_it(gateway):
    gateway.add_provider("alpha")
    client, cid = gateway.openai(), new_id()
    ask(client, cid, [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one"}])
    ask(client, cid, [{"role": "system", "content": "be brief"}, {"role": "user", "content": "two"}])
    assert [m["role"] for m in sent_messages(gateway)] == ["system", "user", "assistant", "user"]
    ask(client, cid, [{"role": "system", "content": "be long"}, {"role": "user", "content": "three"}])
    sent = sent_messages(gateway)
    assert sent[0] == {"role": "system", "content": "be long"}
    assert [m["role"] for m in sent].count("system") == 1 and len(sent) == 6
    roles = [m["role"] for m in gateway.get(f"/v1/conversations/{cid}").json()["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "system", "user", "assistant"]


def test_the_path_form_remembers_too(gateway):
    gateway.add_provider("alpha")
    cid = new_id()
    for text in ("one", "two"):
        response = gateway.post(f"/api/alpha/{cid}/chat/completions", user_body(text))
        assert response.status_code == 200
        assert response.headers["x-conversation-id"] == cid
    assert [m["content"] for m in sent_messages(gateway)] == ["one", "Hello from alpha: one", "two"]


@pytest.mark.parametrize("bad", ["", "x" * 65, "has space", "semi;colon", "dot.dot", "ümlaut"])
def test_conversation_ids_are_validated(gateway, bad):
    gateway.add_provider("alpha")
    response = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "messages": [{"role": "user", "content": "x"}], "conversation_id": bad},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "conversation_id" and "conversation_id" in error["message"]
    assert_valid("ErrorResponse", response.json())
    assert gateway.fake.requests_for("alpha") == []


def test_the_path_form_validates_its_id(gateway):
    gateway.add_provider("alpha")
    response = gateway.post("/api/alpha/bad.id/chat/completions", user_body("x"))
    assert response.status_code == 400 and response.json()["error"]["param"] == "conversation_id"
    longest = "a" * 64
    ok = gateway.post(f"/api/alpha/{longest}/chat/completions", user_body("x"))
    assert ok.status_code == 200 and gateway.get(f"/v1/conversations/{longest}").status_code == 200


def test_list_get_and_delete(gateway):
    gateway.add_provider("alpha")
    client = gateway.openai()
    ids = [f"conv-{index}" for index in range(3)]
    for index, cid in enumerate(ids):
        ask(client, cid, [{"role": "user", "content": f"question number {index} " + "x" * 80}])
    first = gateway.get("/v1/conversations", params={"limit": 2}).json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [c["id"] for c in first["data"]] == ["conv-2", "conv-1"]  # most recently updated first
    entry = first["data"][0]
    assert set(entry) >= {"id", "title", "model", "created_at", "updated_at", "message_count"}
    assert entry["model"] == "fake-model" and entry["message_count"] == 2
    assert entry["title"].startswith("question number 2 x") and len(entry["title"]) == 60
    rest = gateway.get("/v1/conversations", params={"limit": 2, "after": "conv-1"}).json()
    assert [c["id"] for c in rest["data"]] == ["conv-0"] and rest["has_more"] is False
    # A new turn moves a conversation to the top.
    ask(client, "conv-0", [{"role": "user", "content": "again"}])
    assert gateway.get("/v1/conversations").json()["data"][0]["id"] == "conv-0"

    deleted = requests_delete(gateway, "/v1/conversations/conv-1")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    gone = gateway.get("/v1/conversations/conv-1")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "conversation_not_found"
    assert requests_delete(gateway, "/v1/conversations/conv-1").status_code == 404
    assert [c["id"] for c in gateway.get("/v1/conversations").json()["data"]] == ["conv-0", "conv-2"]
    # The id can start a new conversation afterwards.
    ask(client, "conv-1", [{"role": "user", "content": "fresh"}])
    assert [m["content"] for m in sent_messages(gateway)] == ["fresh"]


def test_list_query_is_validated(gateway):
    for params, param in [
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"after": "no.such"}, "after"),
        ({"after": "unknown"}, "after"),
    ]:
        response = gateway.get("/v1/conversations", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["param"] == param


def test_history_over_budget_is_trimmed_from_the_oldest_turns(gateway, settings):
    gateway.add_provider("alpha")
    settings.G4F = {**settings.G4F, "CONVERSATION_MAX_MESSAGES": 4}
    client, cid = gateway.openai(), new_id()
    ask(client, cid, [{"role": "system", "content": "sys"}, {"role": "user", "content": "one"}])
    ask(client, cid, [{"role": "user", "content": "two"}])
    ask(client, cid, [{"role": "user", "content": "three"}])
    assert [m["content"] for m in sent_messages(gateway)] == ["sys", "two", "Hello from alpha: two", "three"]
    settings.G4F = {**settings.G4F, "CONVERSATION_MAX_MESSAGES": 0, "CONVERSATION_MAX_TOKENS": 14}
    ask(client, cid, [{"role": "user", "content": "four"}])
    assert [m["content"] for m in sent_messages(gateway)] == ["sys", "three", "Hello from alpha: three", "four"]
    # The stored conversation keeps everything.
    assert gateway.get(f"/v1/conversations/{cid}").json()["message_count"] == 9


def requests_delete(gateway, path: str, **kwargs):
    import requests

    return requests.delete(gateway.url + path, timeout=20, **kwargs)
