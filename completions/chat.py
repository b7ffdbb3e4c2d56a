"""A chat request from body bytes to routing plan, and the answer shaped as OpenAI's.

`ChatRequest.parse` validates; `shape_completion` and `StreamShaper` turn whatever an adapter
returned into exactly the OpenAI shape plus `provider`, with usage filled in (the upstream's when
it gave one, otherwise an estimate).
"""

import os
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from completions.serializers import json_object, upstream_payload, validated_chat_fields
from completions.usage import message_text, usage_estimate
from g4fsite.conf import gateway_settings


@dataclass
class ChatRequest:
    payload: dict[str, Any]  # what goes upstream (model replaced per route)
    model: str
    provider: str
    stream: bool
    include_usage: bool
    conversation_id: str | None
    proxy: str | None

    @classmethod
    def parse(cls, body: bytes, *, provider: str = "", conversation_id: str | None = None) -> "ChatRequest":
        """Parse and validate a request body; `provider` / `conversation_id` come from the URL."""
        raw = json_object(body)
        if conversation_id is not None:
            raw = {**raw, "conversation_id": conversation_id}  # the URL's id is validated like the body's
        valid = validated_chat_fields(raw)
        stream_options = valid.get("stream_options") or {}
        return cls(
            payload=upstream_payload(raw, valid),
            model=valid.get("model") or gateway_settings.DEFAULT_MODEL,
            provider=provider or valid.get("provider") or gateway_settings.DEFAULT_PROVIDER,
            stream=valid["stream"],
            include_usage=bool(stream_options.get("include_usage")),
            conversation_id=valid.get("conversation_id") or None,
            proxy=valid.get("proxy") or None,
        )

    @cached_property
    def prompt_text(self) -> str:
        return message_text(self.payload["messages"])


def new_completion_id() -> str:
    return f"chatcmpl-{os.urandom(16).hex()}"  # uuid4().hex without the UUID object: 4 µs less


def shape_completion(completion: dict[str, Any], *, model: str, provider: str, request: ChatRequest) -> dict[str, Any]:
    """The upstream's chat.completion with our `model`, `provider` and a usage block."""
    completion["object"] = "chat.completion"
    completion["model"] = model
    completion["provider"] = provider
    if "id" not in completion:
        completion["id"] = new_completion_id()
    if "created" not in completion:
        completion["created"] = int(time.time())
    for index, choice in enumerate(completion["choices"]):
        if isinstance(choice, dict):
            choice.setdefault("index", index)
            choice.setdefault("logprobs", None)
            choice.setdefault("finish_reason", "stop")
            message = choice.get("message")
            if isinstance(message, dict):
                message.setdefault("content", None)
                message.setdefault("refusal", None)  # OpenAI's schema requires it; some upstreams omit it
    if not _valid_usage(completion.get("usage")):
        completion["usage"] = usage_estimate(request.prompt_text, _choices_text(completion["choices"]))
    return completion


def _valid_usage(usage: Any) -> bool:
    return (
        isinstance(usage, dict)
        and isinstance(usage.get("prompt_tokens"), int)
        and isinstance(usage.get("completion_tokens"), int)
    )


def _carries_output(delta: dict[str, Any]) -> bool:
    return any(delta.get(key) for key in ("content", "tool_calls", "refusal", "function_call", "reasoning_content"))


def _index_order(item: tuple[Any, dict[str, Any]]) -> tuple[bool, int]:
    """Choices in index order (an upstream's non-integer index last)."""
    return (not isinstance(item[0], int), item[0] if isinstance(item[0], int) else 0)


def _choices_text(choices: list[Any]) -> str:
    return message_text([choice.get("message") for choice in choices if isinstance(choice, dict)])


class StreamShaper:
    """Rewrites upstream chunks into ours and holds each choice's finish reason back until the stream
    ends, so the closing chunks can carry `usage` (the upstream's usage chunk comes after them).

    Each choice (`n` > 1) keeps its own finish; text that arrives in the same chunk as a finish reason
    is sent at once, without it."""

    def __init__(self, *, model: str, provider: str, request: ChatRequest) -> None:
        self.id = new_completion_id()
        self.created = int(time.time())
        self.model = model
        self.provider = provider
        self.request = request
        self.usage: dict[str, Any] | None = None
        self.started: set[Any] = set()
        self.finishes: dict[Any, dict[str, Any]] = {}
        self.text: list[str] = []

    def shape(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The chunk to send now, or None when it only carried finish reasons or usage."""
        choices = chunk.get("choices")
        if "usage" not in chunk and type(choices) is list and len(choices) == 1:
            # Most chunks: one choice, not finishing, no usage. Sent as it came, under our names.
            choice = choices[0]
            if type(choice) is dict and not choice.get("finish_reason"):
                self.started.add(choice.setdefault("index", 0))
                delta = choice.get("delta")
                if delta:
                    self._count_text(delta)
                chunk |= self._names
                return chunk
        return self._shape_any(chunk)

    def _shape_any(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        if _valid_usage(chunk.get("usage")):
            self.usage = chunk["usage"]
        choices = [choice for choice in chunk.get("choices") or () if isinstance(choice, dict)]
        if not choices:
            return None
        sent = []
        for position, choice in enumerate(choices):
            index = choice.setdefault("index", position)
            self.started.add(index)
            delta = choice.get("delta") or {}
            self._count_text(delta)
            reason = choice.get("finish_reason")
            if not reason:
                sent.append(choice)
                continue
            self.finishes[index] = {"index": index, "delta": {}, "logprobs": None, "finish_reason": reason}
            if _carries_output(delta) or choice.get("logprobs"):
                sent.append({**choice, "finish_reason": None})
        chunk.pop("usage", None)
        return self._ours(chunk, sent) if sent else None

    def _count_text(self, delta: dict[str, Any]) -> None:
        if delta.get("content"):
            self.text.append(delta["content"])
        for call in delta.get("tool_calls") or ():
            arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
            if arguments:
                self.text.append(arguments)

    @cached_property
    def _names(self) -> dict[str, Any]:
        """What every chunk of ours says whatever the upstream's said: id, object, created, model, provider."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "provider": self.provider,
        }

    def _ours(self, chunk: dict[str, Any], choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk |= self._names
        chunk["choices"] = choices
        return chunk

    @property
    def finished(self) -> bool:
        """Whether every choice the stream started has finished."""
        return bool(self.finishes) and self.started <= set(self.finishes)

    def closing_chunks(self) -> list[dict[str, Any]]:
        """One finishing chunk per choice, the last with usage; with `include_usage`, OpenAI's
        separate usage chunk instead."""
        usage = self.usage_totals()
        closing = [self._ours({}, [finish]) for _, finish in sorted(self.finishes.items(), key=_index_order)]
        if not closing:
            closing = [self._ours({}, [])]
        if not self.request.include_usage:
            closing[-1]["usage"] = usage
            return closing
        return [*closing, self._ours({}, []) | {"usage": usage}]

    def usage_totals(self) -> dict[str, Any]:
        return self.usage or usage_estimate(self.request.prompt_text, "".join(self.text))
