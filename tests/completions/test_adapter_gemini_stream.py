"""The Gemini adapter: stream chunks as OpenAI chunks, upstream errors as gateway errors, and model
listing (requests and whole answers: test_adapter_gemini.py)."""

import orjson
import pytest

from completions import errors
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.gemini import GeminiAdapter
from tests.completions.adapter_harness import AdapterRun
from tests.completions.fake_transport import Reply, replying, sse_reply
from tests.openapi import assert_valid

BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
TARGET = UpstreamTarget(provider="gemini", base_url=BASE_URL, upstream_model="gemini-2.5-flash", api_key="AIza-test")
HELLO = {"role": "user", "content": "Hi"}


def gemini_upstream(*replies: Reply) -> AdapterRun:
    """The Gemini adapter over a fake transport answering with `replies` in turn."""
    return AdapterRun(GeminiAdapter, TARGET, replying(*replies))


def sse(*chunks: dict) -> Reply:
    return sse_reply("".join(f"data: {orjson.dumps(chunk).decode()}\r\n\r\n" for chunk in chunks))


STREAM = [
    {
        "candidates": [{"content": {"parts": [{"text": "The weather"}], "role": "model"}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc123",
    },
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": " is sunny."},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 12, "totalTokenCount": 20},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc123",
    },
]


def test_stream_chunks_become_chat_completion_chunks():
    upstream = gemini_upstream(sse(*STREAM))
    chunks = upstream.run("chat_stream", {"model": "gemini-2.5-flash", "messages": [HELLO]})
    assert str(upstream.requests[0].url) == f"{BASE_URL}/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert upstream.requests[0].headers["x-goog-api-key"] == "AIza-test"
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk)
        assert chunk["id"] == "chatcmpl-abc123"
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[:-1]]
    tool_call = deltas[3]["tool_calls"][0]
    weather_call = {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert tool_call.pop("id").startswith("call_")
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "The weather"},
        {"content": " is sunny."},
        {"tool_calls": [{"index": 0, "type": "function", "function": weather_call}]},
        {},
    ]
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks[:-1]] == [None] * 4 + ["tool_calls"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 8, "completion_tokens": 12, "total_tokens": 20}


def test_stream_without_finish_reason_is_truncated():
    with pytest.raises(errors.ProviderError) as caught:
        gemini_upstream(sse(STREAM[0])).run("chat_stream", {"model": "gemini-2.5-flash", "messages": [HELLO]})
    assert caught.value.code == "stream_truncated"


def google_error(code: int, message: str, status: str, reason: str = "") -> dict:
    error = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return {"error": error}


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (
            400,
            google_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", "API_KEY_INVALID"),
            errors.UpstreamAuthFailed,
        ),
        (400, google_error(400, "Invalid JSON payload", "INVALID_ARGUMENT"), errors.UpstreamBadRequest),
        (400, google_error(400, "User location is not supported", "FAILED_PRECONDITION"), errors.ProviderError),
        (429, google_error(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED"), errors.RateLimited),
        (503, google_error(503, "The model is overloaded.", "UNAVAILABLE"), errors.ProviderError),
    ],
)
def test_upstream_errors_are_translated(status, body, expected):
    upstream = gemini_upstream(Reply(status, json=body))
    for method in ("chat", "chat_stream"):
        with pytest.raises(expected) as caught:
            upstream.run(method, {"model": "gemini-2.5-flash", "messages": [HELLO]})
        assert body["error"]["message"] in caught.value.message


def test_list_models_strips_the_prefix_and_skips_models_that_cannot_chat():
    page_one = {
        "models": [
            {
                "name": "models/gemini-2.5-flash",
                "displayName": "Gemini 2.5 Flash",
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            },
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
        ],
        "nextPageToken": "page-2",
    }
    page_two = {"models": [{"name": "models/gemini-2.5-pro", "supportedGenerationMethods": ["generateContent"]}]}
    upstream = gemini_upstream(Reply(200, json=page_one), Reply(200, json=page_two))
    models = upstream.run("list_models")
    assert [model["id"] for model in models] == ["gemini-2.5-flash", "gemini-2.5-pro"]
    assert [str(request.url) for request in upstream.requests] == [
        f"{BASE_URL}/models?pageSize=1000",
        f"{BASE_URL}/models?pageSize=1000&pageToken=page-2",
    ]
    assert all(request.headers["x-goog-api-key"] == "AIza-test" for request in upstream.requests)
