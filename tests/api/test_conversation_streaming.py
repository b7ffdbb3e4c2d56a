"""Streamed replies are stored when the stream ends; a cut or abandoned stream stores what arrived,
marked incomplete, exactly once."""

import json
import time

from tests.helpers import open_chat_request, wait_until


def _stored(gateway, cid: str) -> list[dict]:
    return gateway.get(f"/v1/conversations/{cid}").json()["messages"]


def test_a_streamed_reply_is_stored(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", chunks=6)
    client = gateway.openai()
    stream = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        extra_body={"conversation_id": "s1"},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from alpha: stream me"
    messages = _stored(gateway, "s1")
    assert [(m["role"], m["content"], m["incomplete"]) for m in messages] == [
        ("user", "stream me", False),
        ("assistant", text, False),
    ]
    assert messages[1]["provider"] == "alpha" and messages[1]["usage"]["completion_tokens"] > 0
    # The next turn (streamed or not) sees it.
    client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "next"}], extra_body={"conversation_id": "s1"}
    )
    sent = gateway.fake.requests_for("alpha")[-1].json["messages"]
    assert [m["content"] for m in sent] == ["stream me", text, "next"]


def test_streamed_tool_calls_are_stored(gateway):
    gateway.add_provider("alpha")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    stream = gateway.openai().chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "find x"}],
        tools=tools,
        stream=True,
        extra_body={"conversation_id": "tools"},
    )
    assert list(stream)
    reply = _stored(gateway, "tools")[1]
    assert reply["tool_calls"][0]["id"] == "call_1" and reply["tool_calls"][0]["function"]["name"] == "lookup"
    assert json.loads(reply["tool_calls"][0]["function"]["arguments"]) == {"echo": "find x"}
    # Answering the tool call continues the conversation with the call in the history.
    answer = gateway.openai().chat.completions.create(
        model="fake-model",
        tools=tools,
        extra_body={"conversation_id": "tools"},
        messages=[{"role": "tool", "tool_call_id": "call_1", "content": "42"}],
    )
    assert answer.choices[0].message.content == "Tool said: 42"
    sent = gateway.fake.requests_for("alpha")[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"] and sent[1]["tool_calls"][0]["id"] == "call_1"


def test_a_cut_upstream_stream_stores_the_partial_reply_marked_incomplete(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", chunks=8)
    gateway.fake.set_fault("alpha", "cut", times=1)
    response = gateway.post(
        "/v1/chat/completions",
        {
            "model": "fake-model",
            "stream": True,
            "conversation_id": "cut",
            "messages": [{"role": "user", "content": "a b c d e f g h"}],
        },
        stream=True,
    )
    body = response.content.decode()
    assert response.status_code == 200 and '"error"' in body
    received = "".join(
        (json.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for line in body.splitlines()
        if line.startswith("data: {") and '"choices"' in line
    )
    messages = _stored(gateway, "cut")
    assert [(m["role"], m["incomplete"]) for m in messages] == [("user", False), ("assistant", True)]
    assert messages[1]["content"] == received and received and "Hello from alpha: a b c d e f g h".startswith(received)
    # The lease was released: the next turn works and carries the partial reply.
    retry = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "conversation_id": "cut", "messages": [{"role": "user", "content": "again"}]},
    )
    assert retry.status_code == 200
    assert [m["content"] for m in gateway.fake.requests_for("alpha")[-1].json["messages"]] == [
        "a b c d e f g h",
        received,
        "again",
    ]


def test_a_client_disconnect_mid_stream_stores_what_arrived_once(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", chunks=40, chunk_delay=0.1)
    body = {
        "model": "fake-model",
        "stream": True,
        "conversation_id": "gone",
        "messages": [{"role": "user", "content": " ".join("word" for _ in range(40))}],
    }
    sock = open_chat_request(gateway.server.port, body)
    try:
        received = b""
        deadline = time.monotonic() + 5
        while received.count(b"data: ") < 3 and time.monotonic() < deadline:
            received += sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200") and received.count(b"data: ") >= 3
    finally:
        sock.close()
    assert wait_until(lambda: len(_stored(gateway, "gone")) == 2), "the partial turn was not stored"
    time.sleep(0.3)  # nothing more may arrive: stored once
    messages = _stored(gateway, "gone")
    assert [(m["role"], m["incomplete"]) for m in messages] == [("user", False), ("assistant", True)]
    partial, full = messages[1]["content"], "Hello from alpha: " + " ".join("word" for _ in range(40))
    assert partial and full.startswith(partial) and len(partial) < len(full)
    assert gateway.fake.open_connections("alpha") == 0
    # Released: the next turn is served.
    assert (
        gateway.post(
            "/v1/chat/completions",
            {"model": "fake-model", "conversation_id": "gone", "messages": [{"role": "user", "content": "more"}]},
        ).status_code
        == 200
    )
    assert len(_stored(gateway, "gone")) == 4


def test_a_failed_request_stores_nothing_and_releases_the_conversation(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_fault("alpha", "500", times=1)
    failed = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "conversation_id": "fails", "messages": [{"role": "user", "content": "one"}]},
    )
    assert failed.status_code == 502
    assert gateway.get("/v1/conversations/fails").status_code == 404  # no empty conversation left behind
    again = gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "conversation_id": "fails", "messages": [{"role": "user", "content": "one"}]},
    )
    assert again.status_code == 200
    assert [m["content"] for m in _stored(gateway, "fails")] == ["one", "Hello from alpha: one"]


def test_a_request_refused_before_any_answer_leaves_no_conversation(gateway):
    gateway.add_provider("alpha")
    unknown_model = {
        "model": "no-such-model",
        "conversation_id": "nomodel",
        "messages": [{"role": "user", "content": "x"}],
    }
    assert gateway.post("/v1/chat/completions", unknown_model).status_code == 404
    gateway.fake.set_fault("alpha", "500", times=1)
    cut_short = {"model": "fake-model", "conversation_id": "nostream", "messages": [{"role": "user", "content": "x"}]}
    failed = gateway.post("/v1/chat/completions", {**cut_short, "stream": True})
    assert failed.status_code == 502
    for cid in ("nomodel", "nostream"):
        assert gateway.get(f"/v1/conversations/{cid}").status_code == 404
    assert gateway.get("/v1/conversations").json()["data"] == []  # no "Untitled chat" in the list
    # A conversation that already has messages keeps them when a later turn fails.
    assert gateway.post("/v1/chat/completions", {**cut_short, "conversation_id": "kept"}).status_code == 200
    gateway.fake.set_fault("alpha", "500", times=1)
    assert gateway.post("/v1/chat/completions", {**cut_short, "conversation_id": "kept"}).status_code == 502
    assert [m["content"] for m in _stored(gateway, "kept")] == ["x", "Hello from alpha: x"]
