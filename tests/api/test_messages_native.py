"""What Claude Code sends, passed through to an `anthropic` provider intact; mid-stream failures as
`event: error`; the Anthropic-shaped model list Claude Code asks for."""

import json

import anthropic

from catalogue.models import Provider
from tests.api.test_messages_sdk import ALIAS, MODEL, UPSTREAM, add_claude, client
from tests.fake_upstream.anthropic_protocol import SIGNATURE

# A signature with characters JSON may escape or not: it must arrive exactly as the client wrote it.
HISTORY_SIGNATURE = "Ep4BCkYIBRgCKkA\\/sig+with\\u002fescapes=="


def claude_code_body() -> bytes:
    """A Claude-Code-shaped request, written by hand as the client's bytes."""
    tools = [
        {
            "name": f"Tool{n}",
            "description": f"Tool number {n}.",
            "input_schema": {"type": "object", "properties": {"model": {"type": "string"}}},
        }
        for n in range(12)
    ]
    tools[-1]["cache_control"] = {"type": "ephemeral"}
    history_thinking = '{"type": "thinking", "thinking": "Earlier thought.", "signature": "' + HISTORY_SIGNATURE + '"}'
    return (
        '{"max_tokens": 32000, "messages": ['
        '{"role": "user", "content": [{"type": "text", "text": "first", "cache_control": {"type": "ephemeral"}}]},'
        '{"role": "assistant", "content": [' + history_thinking + ', {"type": "text", "text": "ok"}]},'
        '{"role": "user", "content": "again"}],'
        ' "model": "' + ALIAS + '",'
        ' "system": [{"type": "text", "text": "You are Claude Code.",'
        ' "cache_control": {"type": "ephemeral", "ttl": "1h"}},'
        ' {"type": "text", "text": "Be helpful."}],'
        ' "tools": ' + json.dumps(tools) + ","
        ' "metadata": {"user_id": "user_abc_account_def_session_123"},'
        ' "thinking": {"type": "enabled", "budget_tokens": 16000},'
        ' "context_management": {"edits": []},'
        ' "stream": true}'
    ).encode()


def test_claude_code_request_passes_through_intact(gateway):
    name = add_claude(gateway, "anthropic")
    raw = claude_code_body()
    headers = {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "authorization": "Bearer client-token",
    }
    response = gateway.post("/v1/messages", data=raw, json=None, headers=headers, stream=True)
    assert response.status_code == 200
    streamed = response.content
    sent = gateway.fake.requests_for(name)[-1]
    # Byte for byte, but for the model name.
    assert sent.body == raw.replace(f'"{ALIAS}"'.encode(), f'"{UPSTREAM["anthropic"]}"'.encode())
    assert ('"signature": "' + HISTORY_SIGNATURE + '"').encode() in sent.body
    assert sent.headers["anthropic-beta"] == headers["anthropic-beta"]
    assert sent.headers["x-api-key"] == "upstream-key-anthropic" and "authorization" not in sent.headers
    assert sent.json["tools"][0]["input_schema"]["properties"] == {"model": {"type": "string"}}
    # The upstream's stream is relayed: thinking, its signature_delta, then the text.
    assert b'"type":"signature_delta","signature":"' + SIGNATURE.encode() + b'"' in streamed
    assert b"thinking_delta" in streamed and streamed.rstrip().endswith(b'data: {"type":"message_stop"}')


def test_thinking_signature_round_trips_through_the_sdk(gateway):
    name = add_claude(gateway, "anthropic")
    sdk = client(gateway)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    with sdk.messages.stream(
        model=MODEL, max_tokens=2000, thinking=thinking, messages=[{"role": "user", "content": "think"}]
    ) as stream:
        final = stream.get_final_message()
    block = final.content[0]
    assert block.type == "thinking" and block.thinking == "Thinking about: think" and block.signature == SIGNATURE
    history = [
        {"role": "user", "content": "think"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
        {"role": "user", "content": "more"},
    ]
    sdk.messages.create(model=MODEL, max_tokens=2000, thinking=thinking, messages=history)
    sent = gateway.fake.requests_for(name)[-1].json
    assert sent["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "Thinking about: think",
        "signature": SIGNATURE,
    }


def stream_events(gateway) -> list[tuple[str, dict]]:
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "x y z"}]}
    response = gateway.post("/v1/messages", body, stream=True)
    assert response.status_code == 200
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith(b"event: "):
            name = line[7:].decode()
        elif line.startswith(b"data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_a_failure_mid_stream_ends_with_an_error_event(gateway):
    for protocol in ("anthropic", "openai", "gemini"):
        name = add_claude(gateway, protocol, name=f"cut-{protocol}")
        gateway.fake.set_option(name, chunks=8)
        gateway.fake.set_fault(name, "cut")
        events = stream_events(gateway)
        assert events[0][0] == "message_start", protocol
        assert events[-1][0] == "error", (protocol, events[-1])
        assert events[-1][1]["type"] == "error" and events[-1][1]["error"]["type"] == "api_error"
        assert "message_stop" not in [event for event, _ in events]
        gateway.fake.set_fault(name, None)
        Provider.objects.filter(name=name).delete()


def test_streams_fail_over_before_the_first_byte(gateway):
    broken = add_claude(gateway, "anthropic", name="a-broken")
    add_claude(gateway, "openai", name="b-working")
    Provider.objects.filter(name=broken).update(priority=1)
    Provider.objects.filter(name="b-working").update(priority=99)
    gateway.fake.set_fault(broken, "500")
    events = stream_events(gateway)
    assert events[-1][0] == "message_stop"
    text = "".join(data["delta"].get("text", "") for event, data in events if event == "content_block_delta")
    assert text.startswith("Hello from ")


def test_model_list_in_anthropics_shape_for_anthropic_clients(gateway):
    add_claude(gateway, "openai")
    listed = gateway.get("/v1/models?limit=1000", headers={"anthropic-version": "2023-06-01"}).json()
    assert listed["has_more"] is False and listed["first_id"] == MODEL == listed["last_id"]
    assert listed["data"][0]["type"] == "model" and listed["data"][0]["display_name"] == MODEL
    assert listed["data"][0]["created_at"].endswith("Z")
    page = client(gateway).models.list(limit=1000)
    assert [model.id for model in page.data] == [MODEL]
    openai_shape = gateway.get("/v1/models").json()
    assert openai_shape["object"] == "list" and openai_shape["data"][0]["object"] == "model"


def test_sdk_errors_on_a_broken_upstream_are_api_errors(gateway):
    name = add_claude(gateway, "anthropic")
    gateway.fake.set_fault(name, "500")
    try:
        client(gateway).messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    except anthropic.APIStatusError as exc:
        assert exc.status_code == 502 and exc.body["error"]["type"] == "api_error"
    else:
        raise AssertionError("a failing upstream must be an error")
