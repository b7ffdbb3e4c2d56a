"""Issue 15's request fields end to end where no other test reaches them: a Messages request's blocks
and sampling fields as a chat upstream receives them, Responses `input_image` parts, count_tokens for
an unknown model, and Claude Code's model names and model list against the bundled catalogue."""

import base64
import json
import time

from catalogue import services
from catalogue.models import Provider
from tests.api.responses_helpers import MODELS, add_provider, create
from tests.api.test_messages_sdk import MODEL, TOOL, add_claude
from tests.fake_upstream.assets import TINY_PNG
from tests.helpers import ROOT

PNG = base64.b64encode(TINY_PNG).decode()
ANTHROPIC = {"anthropic-version": "2023-06-01"}


def test_a_messages_request_reaches_a_chat_upstream_field_by_field(gateway):
    name = add_claude(gateway, "openai")
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [
            {"role": "system", "content": "Also be kind."},  # Claude Code sends these inside messages
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    image,
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                ],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "a cat"}, image],
                    }
                ],
            },
        ],
        "tools": [TOOL],
        "tool_choice": {"type": "tool", "name": "lookup"},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 5,
        "metadata": {"user_id": "user-1"},
    }
    response = gateway.post("/v1/messages", body, headers=ANTHROPIC)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"
    sent = gateway.fake.requests_for(name)[-1].json
    roles = [message["role"] for message in sent["messages"]]
    assert roles == ["system", "system", "user", "assistant", "tool", "user"], roles
    assert "Be brief." in json.dumps(sent["messages"][0]) and "Also be kind." in json.dumps(sent["messages"][1])
    parts = sent["messages"][2]["content"]
    assert [part["type"] for part in parts] == ["text", "image_url", "image_url"]
    assert parts[1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    assert parts[2]["image_url"]["url"] == "https://example.com/cat.png"
    call = sent["messages"][3]["tool_calls"][0]
    assert call["id"] == "toolu_1" and call["function"]["name"] == "lookup"
    assert sent["messages"][4]["tool_call_id"] == "toolu_1" and "a cat" in json.dumps(sent["messages"][4])
    # The tool result's image follows as a user message (a chat tool message carries text only).
    assert sent["messages"][5]["content"][-1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert sent["tools"][0]["function"]["parameters"] == TOOL["input_schema"]
    assert (sent["stop"], sent["temperature"], sent["top_p"], sent["user"]) == (["END"], 0.5, 0.9, "user-1")
    assert "top_k" not in sent and "cache_control" not in json.dumps(sent)


def test_responses_input_image_parts_become_chat_image_parts(gateway):
    name = add_provider(gateway, "openai")
    body = {
        "model": MODELS["openai"],
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "low"},
                    {"type": "input_image", "image_url": "https://example.com/cat.png"},
                ],
            }
        ],
    }
    response = create(gateway, body)
    assert response.status_code == 200, response.text
    parts = gateway.fake.requests_for(name)[-1].json["messages"][-1]["content"]
    assert parts == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    # A part with neither inline data nor a URL is for a native provider only.
    body["input"][0]["content"][1] = {"type": "input_image", "file_id": "file-1"}
    refused = create(gateway, body)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unsupported_capability"


def test_count_tokens_for_an_unknown_model_is_a_404_not_found_error(gateway):
    add_claude(gateway, "anthropic")
    body = {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}
    response = gateway.post("/v1/messages/count_tokens", body, headers=ANTHROPIC)
    assert response.status_code == 404
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "not_found_error"


def test_claude_code_names_and_model_list_against_the_bundled_catalogue(gateway):
    bundled = json.loads((ROOT / "catalogue" / "default_catalogue.json").read_text())
    services.catalogue_import(data=bundled)
    # No upstream is ever called here: every provider is switched off but one on the fake upstream.
    Provider.objects.update(status="ignored")
    gateway.add_provider("claude-via-fake", models=["claude-haiku-4.5"])  # the bundled model, its aliases kept
    for name in ("claude-haiku-4-5", "claude-haiku-4-5-20251001"):  # what Claude Code sends
        answer = gateway.post(
            "/v1/messages",
            {"model": name, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
            headers=ANTHROPIC,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-provider"] == "claude-via-fake"
    started = time.monotonic()
    listed = gateway.get("/v1/models?limit=1000", headers=ANTHROPIC)
    assert time.monotonic() - started < 3  # Claude Code's timeout for this call
    page = listed.json()
    ids = [model["id"] for model in page["data"]]
    assert page["has_more"] is False and page["first_id"] == ids[0] and page["last_id"] == ids[-1]
    assert {model["type"] for model in page["data"]} == {"model"}
    assert "claude-haiku-4.5" in ids
