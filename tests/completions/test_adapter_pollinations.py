"""The Pollinations adapter: keyless OpenAI-compatible chat, its model list, and URL-built images."""

import base64

import pytest

from completions import errors
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.pollinations import PollinationsAdapter
from tests.completions.adapter_harness import AdapterRun
from tests.completions.fake_transport import FakeTransport, Reply
from tests.openapi import assert_valid

TEXT_URL = "https://text.pollinations.ai/openai"
TARGET = UpstreamTarget(provider="pollinations", base_url=TEXT_URL, upstream_model="openai")
JPEG = b"\xff\xd8\xff\xe0fake-jpeg"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1750000000,
    "model": "openai",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


def pollinations_upstream(handler) -> AdapterRun:
    """The Pollinations adapter over a fake transport answering each request with `handler(request)`."""
    return AdapterRun(PollinationsAdapter, TARGET, FakeTransport(handler))


def test_chat_goes_to_the_openai_compatible_endpoint_without_a_key():
    upstream = pollinations_upstream(lambda request: Reply(200, json=COMPLETION))
    completion = upstream.run("chat", {"model": "openai", "messages": [{"role": "user", "content": "Hi"}]})
    assert_valid("CreateChatCompletionResponse", completion)
    [request] = upstream.requests
    assert str(request.url) == "https://text.pollinations.ai/openai/chat/completions"
    assert "authorization" not in request.headers
    assert request.json()["messages"] == [{"role": "user", "content": "Hi"}]


def test_list_models_reads_names():
    models = [
        {"name": "openai", "description": "OpenAI GPT-4.1 Nano", "vision": True},
        {"name": "mistral", "description": "Mistral Small 3.1"},
        {"description": "nameless"},
    ]
    upstream = pollinations_upstream(lambda request: Reply(200, json=models))
    listed = upstream.run("list_models")
    assert [model["id"] for model in listed] == ["openai", "mistral"]
    assert str(upstream.requests[0].url) == "https://text.pollinations.ai/models"


def test_image_urls_carry_prompt_size_model_and_seed():
    upstream = pollinations_upstream(lambda request: pytest.fail("a URL answer needs no request"))
    payload = {"prompt": "a red fox / in snow?", "model": "flux", "n": 2, "size": "1024x768", "seed": 42}
    result = upstream.run("images", payload)
    assert_valid("ImagesResponse", result)
    prefix = "https://image.pollinations.ai/prompt/a%20red%20fox%20%2F%20in%20snow%3F?width=1024&height=768&model=flux"
    assert result["data"] == [
        {"url": f"{prefix}&seed=42&nologo=true&private=true"},
        {"url": f"{prefix}&seed=43&nologo=true&private=true"},
    ]


def test_b64_json_images_are_fetched():
    upstream = pollinations_upstream(lambda request: Reply(200, content=JPEG, headers={"content-type": "image/jpeg"}))
    result = upstream.run("images", {"prompt": "fox", "response_format": "b64_json", "seed": 1})
    assert_valid("ImagesResponse", result)
    assert result["data"] == [{"b64_json": base64.b64encode(JPEG).decode()}]
    [request] = upstream.requests
    assert str(request.url) == (
        "https://image.pollinations.ai/prompt/fox?width=1024&height=1024&model=openai&seed=1&nologo=true&private=true"
    )


def test_cookies_go_to_the_provider_host_only():
    with_cookies = UpstreamTarget(
        provider="pollinations", base_url=TEXT_URL, upstream_model="openai", cookies={"session": "s1"}
    )
    upstream = pollinations_upstream(lambda request: Reply(200, content=JPEG, headers={"content-type": "image/jpeg"}))
    upstream.run("images", {"prompt": "fox", "response_format": "b64_json"}, target=with_cookies)
    assert upstream.requests[-1].url.host == "image.pollinations.ai"
    assert "cookie" not in upstream.requests[-1].headers
    chat = pollinations_upstream(lambda request: Reply(200, json=COMPLETION))
    chat.run("chat", {"model": "openai", "messages": [{"role": "user", "content": "Hi"}]}, target=with_cookies)
    assert chat.requests[-1].headers["cookie"] == "session=s1"


def test_a_non_image_answer_is_malformed():
    upstream = pollinations_upstream(lambda request: Reply(200, json={"error": "queue full"}))
    with pytest.raises(errors.UpstreamMalformed):
        upstream.run("images", {"prompt": "fox", "response_format": "b64_json"})


def test_another_host_serves_images_itself():
    target = UpstreamTarget(provider="local", base_url="http://127.0.0.1:9100/pollinations/openai", upstream_model="x")
    upstream = pollinations_upstream(lambda request: pytest.fail("no request"))
    result = upstream.run("images", {"prompt": "fox", "seed": 5}, target=target)
    assert result["data"][0]["url"].startswith("http://127.0.0.1:9100/prompt/fox?width=1024&height=1024&model=x&seed=5")


@pytest.mark.parametrize("size", ["big", "0x100", "100x", "9000x9000"])
def test_invalid_size_is_refused(size):
    with pytest.raises(errors.ValidationFailed) as caught:
        pollinations_upstream(lambda request: pytest.fail("no request")).run("images", {"prompt": "fox", "size": size})
    assert caught.value.param == "size"


def test_upstream_error_is_translated():
    upstream = pollinations_upstream(lambda request: Reply(429, json={"error": "Too many requests", "status": 429}))
    with pytest.raises(errors.RateLimited) as caught:
        upstream.run("chat", {"model": "openai", "messages": [{"role": "user", "content": "Hi"}]})
    assert "Too many requests" in caught.value.message
