"""Conversations the server remembers, end to end with the openai SDK against the fake upstream."""

import uuid

import openai
import pytest

from tests.openapi import assert_valid


def new_id() -> str:
    return uuid.uuid4().hex


def sent_messages(gateway, provider: str = "alpha") -> list[dict]:
    return gateway.fake.requests_for(provider)[-1].json["messages"]


def ask(client, conversation_id: str, messages: list[dict], **kwargs):
    return client.chat.completions.create(
        model="fake-model", messages=messages, extra_body={"conversation_id": conversation_id, **kwargs.pop("extra", {})},
        **kwargs,
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
        ("system", "be brief"), ("user", "one"), ("assistant", "Hello from alpha: one"),
        ("user", "two"), ("assistant", "Hello from alpha: two"),
    ]
    reply = stored["messages"][2]
    assert reply["provider"] == "alpha" and reply["model"] == "fake-model" and reply["incomplete"] is False
    assert reply["usage"]["completion_tokens"] == first.usage.completion_tokens
    assert isinstance(reply["created_at"], int)
