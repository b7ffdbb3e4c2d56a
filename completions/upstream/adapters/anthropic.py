"""The Anthropic Messages API (`POST {base}/v1/messages`, `x-api-key`, `anthropic-version`).

Where the two APIs differ, the translation chooses:
- system and developer messages become the top-level `system`; `response_format` json_object /
  json_schema adds an instruction there (the Messages API has no JSON mode);
- roles must alternate, so consecutive same-role turns merge and `tool` messages become
  `tool_result` blocks of one user turn (placed first, as Anthropic requires);
- `image_url` data URLs become base64 image blocks, http(s) URLs `url` image blocks that Anthropic
  fetches itself, so the gateway fetches nothing;
- `max_tokens` is required upstream (4096 when absent); `temperature` is clamped to Anthropic's 0..1;
  `n` > 1 is refused; `tool_choice` "none" drops the tools unless the history already uses them;
- tool call arguments that are not a JSON object are kept as `{"arguments": <text>}`;
- thinking blocks become `reasoning_content`; `reasoning_effort` turns extended thinking on
  (`reasoning.add_anthropic_thinking` says how).
"""

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from completions import errors
from completions.upstream.adapters.base import Adapter, UpstreamTarget
from completions.upstream.adapters.reasoning import add_anthropic_thinking
from completions.upstream.adapters.translation import message_text, tool_call_arguments
from completions.upstream.safe_fetch import parse_data_url
from completions.upstream.sse import iter_sse_events
from completions.upstream.status import raise_for_upstream_status, upstream_error_message
from completions.upstream.transport import UpstreamResponse

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
MAX_MODEL_PAGES = 20
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "tool_use": "tool_calls"} | {
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
JSON_INSTRUCTION = "Respond only with one valid JSON object, with no text before or after it."


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


# Request: OpenAI chat.completions -> Anthropic messages


def messages_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The Messages API body for an OpenAI chat request."""
    if (payload.get("n") or 1) > 1:
        raise errors.ValidationFailed("The 'anthropic' protocol returns one choice: 'n' must be 1.", param="n")
    system, messages = _messages(payload.get("messages") or [])
    response_format = payload.get("response_format") or {}
    if response_format.get("type") == "json_object":
        system.append(JSON_INSTRUCTION)
    elif response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        system.append(f"{JSON_INSTRUCTION} It must match this JSON schema: {orjson.dumps(schema).decode()}")
    body: dict[str, Any] = {
        "model": payload["model"],
        "messages": messages,
        "max_tokens": payload.get("max_completion_tokens") or payload.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if payload.get("temperature") is not None:
        body["temperature"] = min(float(payload["temperature"]), 1.0)
    if payload.get("top_p") is not None:
        body["top_p"] = payload["top_p"]
    stop = payload.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if payload.get("user"):
        body["metadata"] = {"user_id": str(payload["user"])}
    body.update(_tools(payload, history_uses_tools=any(_uses_tools(m) for m in messages)))
    add_anthropic_thinking(body, payload)
    return body


def _messages(openai_messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Split OpenAI messages into system texts and alternating Anthropic turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in openai_messages:
        role = message.get("role")
        if role in ("system", "developer"):
            text = message_text(message.get("content"))
            if text:
                system.append(text)
            continue
        if role == "user":
            turn_role, blocks = "user", _user_blocks(message.get("content"))
        elif role == "assistant":
            turn_role, blocks = "assistant", _assistant_blocks(message)
        elif role == "tool":
            turn_role, blocks = "user", [_tool_result_block(message)]
        else:
            raise errors.ValidationFailed(f"The 'anthropic' protocol cannot send '{role}' messages.", param="messages")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return system, turns


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content or ():
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block((part.get("image_url") or {}).get("url") or ""))
        elif kind == "file" and str((part.get("file") or {}).get("file_data", "")).startswith("data:"):
            media_type, data = parse_data_url(part["file"]["file_data"])
            blocks.append({"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}})
        else:
            raise errors.UnsupportedCapability(f"The 'anthropic' protocol cannot send '{kind}' content parts.")
    return blocks


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        media_type, data = parse_data_url(url)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise errors.ValidationFailed("An image_url must be a data URL or an http(s) URL.", param="messages")


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    text = message_text(message.get("content"))
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = tool_call_arguments(function)
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments})
    return blocks


def _tool_result_block(message: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
    text = message_text(message.get("content"))
    if text:
        block["content"] = text
    return block


def _uses_tools(turn: dict[str, Any]) -> bool:
    return any(block["type"] in ("tool_use", "tool_result") for block in turn["content"])


def _tools(payload: dict[str, Any], *, history_uses_tools: bool) -> dict[str, Any]:
    """`tools` and `tool_choice` for the request (none at all when the client sent none)."""
    tools = [
        {
            "name": tool["function"]["name"],
            "description": tool["function"].get("description") or "",
            "input_schema": tool["function"].get("parameters") or {"type": "object", "properties": {}},
        }
        for tool in payload.get("tools") or ()
        if tool.get("type", "function") == "function"
    ]
    if not tools:
        return {}
    choice = payload.get("tool_choice") or "auto"
    if choice == "none":
        return {"tools": tools, "tool_choice": {"type": "none"}} if history_uses_tools else {}
    if choice == "required":
        tool_choice: dict[str, Any] = {"type": "any"}
    elif isinstance(choice, dict):
        tool_choice = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        tool_choice = {"type": "auto"}
    if payload.get("parallel_tool_calls") is False:
        tool_choice["disable_parallel_tool_use"] = True
    return {"tools": tools, "tool_choice": tool_choice}


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
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                tool_index = self.tool_index_by_block.get(data.get("index", 0), 0)
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
