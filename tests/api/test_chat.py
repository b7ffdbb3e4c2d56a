"""POST /v1/chat/completions through the official openai SDK against the fake upstream."""

import json

import openai
import pytest

from tests.openapi import assert_valid


def test_chat_completion_shape_and_provider(gateway):
    gateway.add_provider("alpha", models=["fake-model"])
    client = gateway.openai()
    completion = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "ping"}])
    assert completion.choices[0].message.content == "Hello from alpha: ping"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "fake-model"
    raw = completion.model_dump()
    assert raw["provider"] == "alpha"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    body = gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]})
    assert body.headers["x-provider"] == "alpha"
    assert_valid("CreateChatCompletionResponse", body.json())


def test_request_fields_are_passed_upstream(gateway):
    gateway.add_provider("alpha", models=["public-name"])
    # The public name maps to another upstream name.
    from catalogue.models import ProviderModel

    ProviderModel.objects.filter(provider__name="alpha").update(upstream_name="upstream-name")
    from catalogue.cache import catalogue_invalidate

    catalogue_invalidate()
    gateway.openai().chat.completions.create(
        model="public-name",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        temperature=0.5,
        top_p=0.9,
        max_tokens=50,
        stop=["END"],
        seed=7,
        user="u1",
        frequency_penalty=0.1,
        presence_penalty=-0.1,
        extra_body={"provider": None, "reasoning_effort": "low"},
    )
    sent = gateway.fake.requests_for("alpha")[-1].json
    assert sent["model"] == "upstream-name"
    assert sent["temperature"] == 0.5 and sent["top_p"] == 0.9 and sent["max_tokens"] == 50
    assert sent["stop"] == ["END"] and sent["seed"] == 7 and sent["user"] == "u1"
    assert sent["frequency_penalty"] == 0.1 and sent["presence_penalty"] == -0.1
    assert sent["reasoning_effort"] == "low"  # unknown fields pass through
    assert "provider" not in sent


def test_tools_round_trip(gateway):
    gateway.add_provider("alpha")
    client = gateway.openai()
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    first = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "find x"}], tools=tools, tool_choice="auto"
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"echo": "find x"}
    second = client.chat.completions.create(
        model="fake-model",
        tools=tools,
        messages=[
            {"role": "user", "content": "find x"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "42"},
        ],
    )
    assert second.choices[0].message.content == "Tool said: 42"
    assert gateway.fake.requests_for("alpha")[-1].json["tools"] == tools


def test_json_mode(gateway):
    gateway.add_provider("alpha")
    completion = gateway.openai().chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "data"}], response_format={"type": "json_object"}
    )
    assert json.loads(completion.choices[0].message.content) == {"echo": "data"}
    assert gateway.fake.requests_for("alpha")[-1].json["response_format"] == {"type": "json_object"}


def test_vision_content_parts_pass_through(gateway):
    gateway.add_provider("alpha")
    image = "data:image/png;base64,iVBORw0KGgo="
    completion = gateway.openai().chat.completions.create(
        model="fake-model",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "Hello from alpha: what is this [images: 1]"
    sent = gateway.fake.requests_for("alpha")[-1].json["messages"][0]["content"]
    assert sent[1]["image_url"]["url"] == image


def test_named_provider_in_body_and_path(gateway):
    gateway.add_provider("alpha", priority=10)
    gateway.add_provider("beta", priority=0)
    client = gateway.openai()
    answer = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}], extra_body={"provider": "beta"}
    )
    assert answer.model_dump()["provider"] == "beta"
    path = gateway.post(
        "/api/beta/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert path.status_code == 200 and path.json()["provider"] == "beta"
    # A model the catalogue does not map to the provider is passed through under its own name.
    passthrough = gateway.post(
        "/api/beta/chat/completions", {"model": "llama3:8b", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert passthrough.status_code == 200
    assert gateway.fake.requests_for("beta")[-1].json["model"] == "llama3:8b"


def test_priority_orders_providers_and_aliases_resolve(gateway):
    gateway.add_provider("low", priority=1)
    gateway.add_provider("high", priority=5)
    from catalogue.models import Model

    Model.objects.filter(name="fake-model").update(aliases=["fm"])
    from catalogue.cache import catalogue_invalidate

    catalogue_invalidate()
    answer = gateway.openai().chat.completions.create(model="fm", messages=[{"role": "user", "content": "x"}])
    assert answer.model_dump()["provider"] == "high"
    assert answer.model == "fake-model"


def test_upstream_usage_is_kept_and_missing_usage_is_estimated(gateway):
    gateway.add_provider("alpha")
    completion = gateway.openai().chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "one two three"}]
    )
    upstream_usage = completion.usage
    assert upstream_usage.completion_tokens == len("Hello from alpha: one two three".split())
    gateway.fake.set_option("alpha", usage=False)
    estimated = gateway.openai().chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "one two three"}]
    )
    assert estimated.usage.prompt_tokens == (len("one two three") + 3) // 4
    assert estimated.usage.completion_tokens == (len("Hello from alpha: one two three") + 3) // 4


@pytest.mark.parametrize("status,error_class", [(500, openai.InternalServerError), (502, openai.APIStatusError)])
def test_upstream_failure_is_a_502_in_openai_shape(gateway, status, error_class):
    gateway.add_provider("alpha")
    gateway.fake.set_fault("alpha", str(status))
    with pytest.raises(openai.APIStatusError) as raised:
        gateway.openai().chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == 502
    assert raised.value.body["code"] == "provider_error"
