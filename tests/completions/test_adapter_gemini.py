"""The Gemini adapter: exact generateContent requests and OpenAI-shaped answers (streams, errors and
model listing: test_adapter_gemini_stream.py)."""

import base64

import pytest

from completions import errors
from completions.upstream import safe_fetch
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.gemini import GeminiAdapter
from tests.completions.adapter_harness import AdapterRun
from tests.completions.fake_transport import FakeTransport, Reply, SentRequest
from tests.openapi import assert_valid

GEMINI_HOST = "generativelanguage.googleapis.com"
BASE_URL = f"https://{GEMINI_HOST}/v1beta"
TARGET = UpstreamTarget(provider="gemini", base_url=BASE_URL, upstream_model="gemini-2.5-flash", api_key="AIza-test")
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
JPEG = b"\xff\xd8\xff\xe0fake-jpeg"
HELLO = {"role": "user", "content": "Hi"}
SIMPLE = {"model": "gemini-2.5-flash", "messages": [HELLO]}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"$ref": "#/$defs/unit"}},
            "required": ["city"],
            "additionalProperties": False,
            "$defs": {"unit": {"type": ["string", "null"], "enum": ["c", "f", None]}},
        },
        "strict": True,
    },
}


class GeminiUpstream(AdapterRun):
    """The Gemini adapter over a fake transport: Gemini calls get `replies` in turn, image hosts a JPEG."""

    def __init__(self, *replies: Reply) -> None:
        super().__init__(GeminiAdapter, TARGET, FakeTransport(self.answer))
        self.replies = replies

    def answer(self, request: SentRequest) -> Reply:
        if request.url.host != GEMINI_HOST:
            return Reply(200, content=JPEG, headers={"content-type": "image/jpeg"})
        return self.replies[min(len(self.requests), len(self.replies)) - 1]

    @property
    def requests(self) -> list[SentRequest]:
        return [request for request in self.transport.requests if request.url.host == GEMINI_HOST]

    @property
    def image_requests(self) -> list[SentRequest]:
        return [request for request in self.transport.requests if request.url.host != GEMINI_HOST]


@pytest.fixture
def public_dns(monkeypatch):
    async def resolve(host, port):
        return {"images.example.com": ["93.184.215.14"]}[host]

    monkeypatch.setattr(safe_fetch, "resolve_addresses", resolve)


ANSWER = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "Let me look that up.", "thoughtSignature": "c2ln"},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 57,
        "candidatesTokenCount": 15,
        "thoughtsTokenCount": 40,
        "totalTokenCount": 112,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mFRqaOXlBZ2n1dkP2qLb4Q0",
}


def test_chat_request_is_translated_to_generate_content(public_dns):
    upstream = GeminiUpstream(Reply(200, json=ANSWER))
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    other = {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
    payload = {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris? See these."},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                    {"type": "image_url", "image_url": {"url": "https://images.example.com/paris.jpg"}},
                ],
            },
            {"role": "assistant", "content": "Checking.", "tool_calls": [call, other]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 18}'},
            {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
        "temperature": 0.2,
        "top_p": 0.8,
        "max_tokens": 256,
        "stop": ["END", "STOP"],
        "seed": 7,
        "n": 2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "weather",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"summary": {"type": "string"}},
                    "required": ["summary"],
                    "additionalProperties": False,
                },
            },
        },
    }
    upstream.run("chat", payload)

    request = upstream.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "AIza-test"
    assert "authorization" not in request.headers
    [image_request] = upstream.image_requests
    assert str(image_request.url) == "https://93.184.215.14/paris.jpg"
    assert image_request.headers["host"] == "images.example.com"
    assert image_request.server_hostname == "images.example.com"  # TLS checks the name, not the address
    assert upstream.body == {
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather in Paris? See these."},
                    {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
                    {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(JPEG).decode()}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "Checking."},
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "skip_thought_signature_validator",
                    },
                    {"functionCall": {"name": "get_time", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                    {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
                    {"text": "Thanks"},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Current weather for a city",
                        "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.8,
            "seed": 7,
            "maxOutputTokens": 256,
            "candidateCount": 2,
            "stopSequences": ["END", "STOP"],
            "responseMimeType": "application/json",
            "responseJsonSchema": payload["response_format"]["json_schema"]["schema"],
        },
    }


@pytest.mark.parametrize(
    "tool_choice, config",
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(tool_choice, config):
    upstream = GeminiUpstream(Reply(200, json=ANSWER))
    upstream.run("chat", {**SIMPLE, "tools": [WEATHER_TOOL], "tool_choice": tool_choice})
    assert upstream.body["toolConfig"] == {"functionCallingConfig": config}


def test_json_object_mode_and_plain_request():
    upstream = GeminiUpstream(Reply(200, json=ANSWER))
    upstream.run("chat", {**SIMPLE, "response_format": {"type": "json_object"}})
    assert upstream.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "generationConfig": {"responseMimeType": "application/json"},
    }


def test_answer_becomes_a_chat_completion():
    completion = GeminiUpstream(Reply(200, json=ANSWER)).run("chat", SIMPLE)
    assert_valid("CreateChatCompletionResponse", completion)
    assert completion["id"] == "chatcmpl-mFRqaOXlBZ2n1dkP2qLb4Q0"
    assert completion["model"] == "gemini-2.5-flash"
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    [tool_call] = choice["message"].pop("tool_calls")
    assert tool_call["id"].startswith("call_")
    assert tool_call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert choice["message"] == {"role": "assistant", "content": "Let me look that up.", "refusal": None}
    assert completion["usage"] == {
        "prompt_tokens": 57,
        "completion_tokens": 55,
        "total_tokens": 112,
        "completion_tokens_details": {"reasoning_tokens": 40},
    }


@pytest.mark.parametrize(
    "gemini_reason, finish_reason",
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_finish_reasons(gemini_reason, finish_reason):
    answer = {"candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": gemini_reason}]}
    completion = GeminiUpstream(Reply(200, json=answer)).run("chat", SIMPLE)
    assert_valid("CreateChatCompletionResponse", completion)
    assert completion["choices"][0]["finish_reason"] == finish_reason


def test_blocked_prompt_is_a_content_filter_finish():
    usage = {"promptTokenCount": 9, "totalTokenCount": 9}
    answer = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage}
    completion = GeminiUpstream(Reply(200, json=answer)).run("chat", SIMPLE)
    assert_valid("CreateChatCompletionResponse", completion)
    assert completion["choices"][0]["finish_reason"] == "content_filter"
    assert completion["usage"] == {"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9}


def test_image_url_on_loopback_is_refused_before_calling_gemini():
    upstream = GeminiUpstream(Reply(200, json=ANSWER))
    image = {"type": "image_url", "image_url": {"url": "http://127.0.0.1:8000/private.png"}}
    with pytest.raises(errors.InvalidRequest) as caught:
        upstream.run("chat", {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [image]}]})
    assert caught.value.code == "image_url_refused"
    assert caught.value.status_code == 400
    assert upstream.requests == [] and upstream.image_requests == []


def test_tool_message_for_an_unknown_call_is_refused():
    upstream = GeminiUpstream(Reply(200, json=ANSWER))
    messages = [HELLO, {"role": "tool", "tool_call_id": "call_nope", "content": "x"}]
    with pytest.raises(errors.ValidationFailed):
        upstream.run("chat", {"model": "gemini-2.5-flash", "messages": messages})
