"""The Anthropic Messages API (`POST {base}/v1/messages`, `x-api-key`, `anthropic-version`).

Where the two APIs differ, the translation chooses:
- system and developer messages become the top-level `system`; a strict `response_format`
  json_schema becomes native structured output (`output_config.format`) on models that have it
  (Opus 4.1, Claude 4.5 and later), otherwise json_object / json_schema add an instruction there;
- roles must alternate, so consecutive same-role turns merge and `tool` messages become
  `tool_result` blocks of one user turn (placed first, as Anthropic requires), their images as
  image blocks inside them; a request of system messages only is refused (400);
- `image_url` data URLs become base64 image blocks (JPEG, PNG, GIF, WebP; others are refused naming
  the part), http(s) URLs `url` image blocks that Anthropic fetches itself; `file` parts must be PDFs;
- `max_tokens` is required upstream (4096 when absent); of `temperature` (clamped to 0..1) and
  `top_p` only one is sent, temperature first, and only when the client set it; `top_k` and a
  function's `strict` are passed on; `n` > 1 is refused; `tool_choice` "none" drops the tools unless
  the history already uses them; the request's `anthropic` object is merged into the body last;
- tool call arguments that are not a JSON object are kept as `{"arguments": <text>}`;
- thinking blocks become `reasoning_content`; `reasoning_effort` turns extended thinking on
  (`reasoning.add_anthropic_thinking` says how); server-tool blocks (web search, code execution...)
  are not relayed.
"""

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from completions import errors
from completions.upstream.adapters.anthropic_request import messages_request
from completions.upstream.adapters.base import Adapter, UpstreamTarget
from completions.upstream.sse import iter_sse_events
from completions.upstream.status import raise_for_upstream_status, upstream_error_message
from completions.upstream.transport import UpstreamResponse

__all__ = ["AnthropicAdapter", "messages_request"]

ANTHROPIC_VERSION = "2023-06-01"
MAX_MODEL_PAGES = 20
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "tool_use": "tool_calls"} | {
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


class AnthropicAdapter(Adapter):
    """Translates OpenAI chat requests to Anthropic messages and the answers back."""

    protocol = "anthropic"

    def headers(self, target: UpstreamTarget) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION, **super().headers(target)}
        if target.api_key:
            headers["x-api-key"] = target.api_key
        return headers

    def raise_for_status(self, response: UpstreamResponse) -> None:
        raise_for_anthropic_status(response)

    async def chat(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        body = messages_request(payload)
        response = await self.send(target, "POST", "v1/messages", json=body)
        message = self.read_json(response)
        if not isinstance(message, dict) or not isinstance(message.get("content"), list):
            raise errors.UpstreamMalformed("The provider's answer has no 'content'.")
        return chat_completion(message)

    async def chat_stream(self, target: UpstreamTarget, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = {**messages_request(payload), "stream": True}
        translator = StreamTranslator(model=body["model"])
        async with self.open_stream(target, "v1/messages", body) as response:
            async for event, data in iter_sse_events(response):
                for chunk in translator.feed(event, _event_data(data)):
                    yield chunk
                if translator.stopped:
                    break
        for chunk in translator.finish():
            yield chunk

    async def list_models(self, target: UpstreamTarget) -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "1000"}
        for _page in range(MAX_MODEL_PAGES):
            response = await self.send(target, "GET", "v1/models", params=params)
            body = self.read_json(response)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise errors.UpstreamMalformed("The provider's model list has no 'data'.")
            models += [model for model in body["data"] if isinstance(model, dict) and model.get("id")]
            if not body.get("has_more") or not body.get("last_id"):
                break
            params = {"limit": "1000", "after_id": str(body["last_id"])}
        return models


def raise_for_anthropic_status(response: UpstreamResponse) -> None:
    """`raise_for_upstream_status`, except that an exhausted credit balance is the provider's fault."""
    if response.status_code == 400 and b"credit balance" in response.content:
        raise errors.ProviderOutOfCredit(f"HTTP 400: {upstream_error_message(response)}")
    raise_for_upstream_status(response)


def _event_data(data: str) -> dict[str, Any]:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise errors.UpstreamMalformed("The provider sent a malformed stream event.") from exc
    if not isinstance(event, dict):
        raise errors.UpstreamMalformed("The provider sent a malformed stream event.")
    return event


# Response: Anthropic message -> OpenAI chat.completion


def chat_completion(message: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI `chat.completion` for an Anthropic message."""
    text = "".join(block.get("text", "") for block in message["content"] if block.get("type") == "text")
    tool_calls = [
        {
            "id": block["id"],
            "type": "function",
            "function": {"name": block["name"], "arguments": orjson.dumps(block.get("input") or {}).decode()},
        }
        for block in message["content"]
        if block.get("type") == "tool_use"
    ]
    content = text if text or not tool_calls else None
    reply: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    reasoning = "".join(block.get("thinking", "") for block in message["content"] if block.get("type") == "thinking")
    if reasoning:
        reply["reasoning_content"] = reasoning
    return {
        "id": message.get("id") or "",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model") or "",
        "choices": [
            {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish_reason(message.get("stop_reason"))}
        ],
        "usage": usage(message.get("usage") or {}),
    }


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason or "", "stop")


def usage(anthropic_usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage from Anthropic's: prompt tokens include cache writes and reads."""
    cached = anthropic_usage.get("cache_read_input_tokens") or 0
    prompt = (anthropic_usage.get("input_tokens") or 0) + (anthropic_usage.get("cache_creation_input_tokens") or 0)
    prompt += cached
    completion = anthropic_usage.get("output_tokens") or 0
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached:
        result["prompt_tokens_details"] = {"cached_tokens": cached}
    return result


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI `chat.completion.chunk`s (one stream, no I/O)."""

    def __init__(self, *, model: str) -> None:
        self.id = ""
        self.model = model
        self.created = int(time.time())
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.stopped = False
        self.tool_index_by_block: dict[int, int] = {}

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks one event produces; raises the gateway error for an `error` event."""
        kind = data.get("type") or event
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = message.get("id") or self.id
            self.model = message.get("model") or self.model
            self.usage.update(message.get("usage") or {})
            return [self.chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                tool_index = self.tool_index_by_block[data.get("index", 0)] = len(self.tool_index_by_block)
                call = {"index": tool_index, "id": block.get("id"), "type": "function"}
                call["function"] = {"name": block.get("name"), "arguments": ""}
                return [self.chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self.chunk({"content": block["text"]})]
            if block.get("type") == "thinking" and block.get("thinking"):
                return [self.chunk({"reasoning_content": block["thinking"]})]
            return []
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [self.chunk({"content": delta["text"]})]
            if delta.get("type") == "thinking_delta" and delta.get("thinking"):
                return [self.chunk({"reasoning_content": delta["thinking"]})]
            block_index = data.get("index", 0)
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                if block_index not in self.tool_index_by_block:
                    return []  # a server tool's input (server_tool_use): Anthropic runs it, not the client
                tool_index = self.tool_index_by_block[block_index]
                arguments = {"arguments": delta["partial_json"]}
                return [self.chunk({"tool_calls": [{"index": tool_index, "function": arguments}]})]
            return []
        if kind == "message_delta":
            self.stop_reason = (data.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.usage.update({key: value for key, value in (data.get("usage") or {}).items() if value is not None})
            return []
        if kind == "message_stop":
            self.stopped = True
            return []
        if kind == "error":
            raise stream_error(data.get("error") or {})
        return []  # ping, content_block_stop, and event types added later

    def finish(self) -> list[dict[str, Any]]:
        """The closing chunks (finish reason, then usage); raises when the stream was cut short."""
        if not self.stopped:
            raise errors.StreamTruncated("The provider's stream ended before it finished.")
        closing = self.chunk({}, finish_reason(self.stop_reason))
        usage_chunk = {**self.chunk({}), "choices": [], "usage": usage(self.usage)}
        return [closing, usage_chunk]


def stream_error(error: dict[str, Any]) -> errors.GatewayError:
    message = f"The provider reported an error mid-stream: {error.get('message') or error.get('type') or 'unknown'}"
    if error.get("type") == "rate_limit_error":
        return errors.RateLimited(message)
    return errors.ProviderError(message)
