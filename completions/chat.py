"""A chat request from body bytes to routing plan, and the answer shaped as OpenAI's.

`ChatRequest.parse` validates; `shape_completion` and `StreamShaper` turn whatever an adapter
returned into exactly the OpenAI shape plus `provider`, with usage filled in (the upstream's when
it gave one, otherwise an estimate).
"""

import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from completions import errors
from completions.serializers import ChatCompletionRequestSerializer, json_object, upstream_payload
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
        serializer = ChatCompletionRequestSerializer(data=raw)
        if not serializer.is_valid():
            raise errors.validation_error(serializer.errors)
        valid = serializer.validated_data
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
    return f"chatcmpl-{uuid.uuid4().hex}"


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
    if not _valid_usage(completion.get("usage")):
        completion["usage"] = usage_estimate(request.prompt_text, _choices_text(completion["choices"]))
    return completion


def _valid_usage(usage: Any) -> bool:
    return (
        isinstance(usage, dict)
        and isinstance(usage.get("prompt_tokens"), int)
        and isinstance(usage.get("completion_tokens"), int)
    )


def _choices_text(choices: list[Any]) -> str:
    return message_text([choice.get("message") for choice in choices if isinstance(choice, dict)])


class StreamShaper:
    """Rewrites upstream chunks into ours and holds the finishing chunk back until the stream ends,
    so it can carry `usage` (the upstream's usage chunk comes after it)."""

    def __init__(self, *, model: str, provider: str, request: ChatRequest) -> None:
        self.id = new_completion_id()
        self.created = int(time.time())
        self.model = model
        self.provider = provider
        self.request = request
        self.usage: dict[str, Any] | None = None
        self.finish_chunk: dict[str, Any] | None = None
        self.text: list[str] = []

    def shape(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The chunk to send now, or None when it is held back or only carried usage."""
        if _valid_usage(chunk.get("usage")):
            self.usage = chunk["usage"]
        choices = chunk.get("choices") or []
        if not choices:
            return None
        chunk["id"] = self.id
        chunk["object"] = "chat.completion.chunk"
        chunk["created"] = self.created
        chunk["model"] = self.model
        chunk["provider"] = self.provider
        chunk.pop("usage", None)
        finished = False
        for choice in choices:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
            for call in delta.get("tool_calls") or ():
                arguments = (call.get("function") or {}).get("arguments")
                if arguments:
                    self.text.append(arguments)
            if choice.get("finish_reason"):
                finished = True
        if finished:
            self.finish_chunk = chunk
            return None
        return chunk

    @property
    def finished(self) -> bool:
        return self.finish_chunk is not None

    def closing_chunks(self) -> list[dict[str, Any]]:
        """The held finishing chunk with usage; with `include_usage`, OpenAI's separate usage chunk."""
        usage = self.usage or usage_estimate(self.request.prompt_text, "".join(self.text))
        chunk = self.finish_chunk or {}
        if not self.request.include_usage:
            chunk["usage"] = usage
            return [chunk]
        usage_chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "provider": self.provider,
            "choices": [],
            "usage": usage,
        }
        return [chunk, usage_chunk]

    def usage_totals(self) -> dict[str, Any]:
        return self.usage or usage_estimate(self.request.prompt_text, "".join(self.text))
