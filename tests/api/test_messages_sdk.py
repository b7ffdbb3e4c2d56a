"""`POST /v1/messages` with the official anthropic SDK, in front of each upstream protocol.

An `anthropic` provider gets the request natively (relayed); `openai` and `gemini` providers get it
translated to chat and the answer rendered back. The SDK parses every answer and stream event into its
own types, so a wrong shape fails here.
"""

import anthropic
import pytest

from catalogue import services
from tests.fake_upstream.anthropic_protocol import TOOL_USE_ID

PROTOCOLS = ["anthropic", "openai", "gemini"]
MODEL = "claude-sonnet-4.5"
ALIAS = "claude-sonnet-4-5-20250929"  # what Claude Code sends
UPSTREAM = {"anthropic": "claude-upstream", "openai": "gpt-upstream", "gemini": "gemini-upstream"}
TOOL = {
    "name": "lookup",
    "description": "Look a word up.",
    "input_schema": {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]},
}


def add_claude(gateway, protocol: str, name: str | None = None, model: str = MODEL) -> str:
    """A provider of `protocol` serving `model` (alias ALIAS) under an upstream name of its own."""
    name = name or f"{protocol}-up"
    services.catalogue_import(
        data={
            "models": [{"name": model, "owned_by": "anthropic", "aliases": [ALIAS] if model == MODEL else []}],
            "providers": [
                {
                    "name": name,
                    "adapter": protocol,
                    "api_key": f"upstream-key-{protocol}",
                    "base_url": gateway.fake.provider_url(name, protocol),
                    "models": [
                        {"name": model, "upstream": UPSTREAM[protocol], "capabilities": ["chat", "vision", "tools"]}
                    ],
                }
            ],
        }
    )
    return name


def client(gateway, api_key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0, timeout=20)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_create_answers_a_message_through_the_alias(gateway, protocol):
    name = add_claude(gateway, protocol)
    message = client(gateway).messages.create(
        model=ALIAS,
        max_tokens=200,
        system=[{"type": "text", "text": "be brief"}],
        messages=[{"role": "user", "content": "hi there"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == f"Hello from {name}: hi there"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = gateway.fake.requests_for(name)[-1]
    assert UPSTREAM[protocol] in (sent.path if protocol == "gemini" else sent.json["model"])
    assert "unused" not in str(sent.headers)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stream_text_and_final_message(gateway, protocol):
    name = add_claude(gateway, protocol)
    with client(gateway).messages.stream(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "stream me"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == f"Hello from {name}: stream me"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_raw_stream_is_anthropics_event_sequence(gateway, protocol):
    add_claude(gateway, protocol)
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    response = gateway.post("/v1/messages", body, stream=True)
    assert response.status_code == 200
    names = [line[7:].decode() for line in response.iter_lines() if line.startswith(b"event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tool_use_then_tool_result_round_trip(gateway, protocol):
    add_claude(gateway, protocol)
    sdk = client(gateway)
    question = [{"role": "user", "content": "apple"}]
    first = sdk.messages.create(model=MODEL, max_tokens=200, tools=[TOOL], messages=question)
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.name == "lookup" and call.input == {"echo": "apple"}
    if protocol == "anthropic":
        assert call.id == TOOL_USE_ID
    history = [
        *question,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "a fruit"}]},
    ]
    second = sdk.messages.create(model=MODEL, max_tokens=200, tools=[TOOL], messages=history)
    assert second.content[0].text == "Tool said: a fruit"
    assert second.stop_reason == "end_turn"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_streamed_tool_use_arrives_as_input_json(gateway, protocol):
    add_claude(gateway, protocol)
    with client(gateway).messages.stream(
        model=MODEL, max_tokens=200, tools=[TOOL], messages=[{"role": "user", "content": "pear"}]
    ) as stream:
        final = stream.get_final_message()
    call = next(block for block in final.content if block.type == "tool_use")
    assert call.input == {"echo": "pear"} and final.stop_reason == "tool_use"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_count_tokens(gateway, protocol):
    name = add_claude(gateway, protocol)
    counted = client(gateway).messages.count_tokens(
        model=MODEL, system="one two", messages=[{"role": "user", "content": "three four five"}]
    )
    assert counted.input_tokens > 0
    upstream = [r.path for r in gateway.fake.requests_for(name)]
    if protocol == "anthropic":  # the upstream's own count: words, in the fake
        assert counted.input_tokens == 5
        assert upstream == [f"/{name}/anthropic/v1/messages/count_tokens"]
    else:
        assert upstream == []  # an estimate, no upstream call


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_exceptions_for_401_404_429(gateway, protocol):
    name = add_claude(gateway, protocol)
    with pytest.raises(anthropic.NotFoundError) as raised:
        client(gateway).messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.body["error"]["type"] == "not_found_error"
    _, plain = services.api_key_create(name="claude")
    with pytest.raises(anthropic.AuthenticationError) as raised:
        client(gateway, api_key="wrong").messages.create(
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.body["error"]["type"] == "authentication_error"
    # The SDK sends x-api-key; Claude Code's ANTHROPIC_AUTH_TOKEN sends a Bearer token.
    assert (
        client(gateway, api_key=plain)
        .messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "x"}])
        .content
    )
    bearer = anthropic.Anthropic(base_url=gateway.url, auth_token=plain, max_retries=0, timeout=20)
    assert bearer.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "y"}]).content
    gateway.fake.set_fault(name, "429")
    with pytest.raises(anthropic.RateLimitError) as raised:
        client(gateway, api_key=plain).messages.create(
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.body["type"] == "error" and raised.value.body["error"]["type"] == "rate_limit_error"
    assert raised.value.response.headers.get("retry-after")


def test_bad_requests_are_invalid_request_errors(gateway):
    add_claude(gateway, "openai")
    for body in (b"{not json", b'{"model": "claude-sonnet-4.5", "messages": []}'):
        response = gateway.post("/v1/messages", data=body, json=None)
        assert response.status_code == 400
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == "invalid_request_error"
    response = gateway.post("/v1/messages", {"model": MODEL, "max_tokens": 5, "messages": [{"role": "x"}]})
    assert response.status_code == 400 and "messages.0.role" in response.json()["error"]["message"]
