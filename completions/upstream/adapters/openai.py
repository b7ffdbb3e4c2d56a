"""The OpenAI-compatible protocol: OpenAI, Groq, OpenRouter, DeepSeek, Ollama, vLLM, LM Studio..."""

from collections.abc import AsyncIterator
from typing import Any

import orjson

from completions import errors
from completions.upstream.adapters.base import Adapter, SpeechResult, UpstreamTarget
from completions.upstream.adapters.translation import PROTOCOL_EXTRA_FIELDS
from completions.upstream.sse import iter_sse_data, iter_sse_events


class OpenAIAdapter(Adapter):
    """Passes OpenAI requests through nearly untouched; the upstream speaks the same API."""

    protocol = "openai"

    def headers(self, target: UpstreamTarget) -> dict[str, str]:
        headers = super().headers(target)
        if target.api_key:
            headers["authorization"] = f"Bearer {target.api_key}"
        if target.cookies:
            headers["cookie"] = target.cookie_header()
        return headers

    async def chat(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        body = {**_own_fields(payload), "stream": False}
        body.pop("stream_options", None)
        response = await self.send(target, "POST", "chat/completions", json=body)
        completion = self.read_json(response)
        if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
            raise errors.UpstreamMalformed("The provider's answer has no 'choices'.")
        if not all(isinstance(choice, dict) and _is_message(choice.get("message")) for choice in completion["choices"]):
            raise errors.UpstreamMalformed("The provider's answer has a choice without a well-formed 'message'.")
        return completion

    def chat_stream(self, target: UpstreamTarget, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Asks for usage with `stream_options` unless the provider is known to refuse it; a 4xx that
        names `stream_options` is retried once without it (the gateway estimates usage then)."""
        body = {**_own_fields(payload), "stream": True}
        body.pop("stream_options", None)
        if target.stream_options:
            return self._stream(target, {**body, "stream_options": {"include_usage": True}}, retry_body=body)
        return self._stream(target, body)

    async def _stream(
        self, target: UpstreamTarget, body: dict[str, Any], retry_body: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The stream's chunks; with `retry_body`, a refusal of `stream_options` before the first chunk
        is retried with that body (in this generator: one layer less per chunk than a wrapper)."""
        finished = started = False
        try:
            async with self.open_stream(target, "chat/completions", body) as response:
                async for data in iter_sse_data(response):
                    if data == "[DONE]":
                        finished = True
                        break
                    try:
                        chunk = orjson.loads(data)
                    except orjson.JSONDecodeError as exc:
                        raise errors.UpstreamMalformed("The provider sent a malformed stream chunk.") from exc
                    if not isinstance(chunk, dict):
                        raise errors.UpstreamMalformed("The provider sent a malformed stream chunk.")
                    if "error" in chunk:
                        raise errors.ProviderError(f"The provider reported an error mid-stream: {chunk['error']}")
                    if _chunk_finishes(chunk):
                        finished = True
                    started = True
                    yield chunk
        except errors.GatewayError as exc:
            if started or retry_body is None or not _refuses_stream_options(exc):
                raise
            async for chunk in self._stream(target, retry_body):
                yield chunk
            return
        if not finished:
            raise errors.StreamTruncated("The provider's stream ended before it finished.")

    async def list_models(self, target: UpstreamTarget) -> list[dict[str, Any]]:
        response = await self.send(target, "GET", "models")
        body = self.read_json(response)
        models = body.get("data") if isinstance(body, dict) else body
        if not isinstance(models, list):
            raise errors.UpstreamMalformed("The provider's model list has no 'data'.")
        return [model for model in models if isinstance(model, dict) and model.get("id")]

    async def embeddings(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self.send(target, "POST", "embeddings", json=payload)
        body = self.read_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise errors.UpstreamMalformed("The provider's embeddings answer has no 'data'.")
        return body

    async def images(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self.send(target, "POST", "images/generations", json=payload)
        body = self.read_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise errors.UpstreamMalformed("The provider's image answer has no 'data'.")
        return body

    async def transcription(
        self, target: UpstreamTarget, file: tuple[str, bytes, str], payload: dict[str, Any]
    ) -> dict[str, Any] | str:
        data = {key: str(value) for key, value in payload.items() if value is not None}
        response = await self.send(target, "POST", "audio/transcriptions", data=data, files={"file": file})
        if payload.get("response_format") in ("text", "srt", "vtt"):
            return response.text
        return self.read_json(response)

    async def speech(self, target: UpstreamTarget, payload: dict[str, Any]) -> SpeechResult:
        response = await self.send(target, "POST", "audio/speech", json=payload)
        return SpeechResult(response.content, response.headers.get("content-type", "audio/mpeg"))

    # --- the Responses API, for providers whose mapping declares the `responses` capability ---------

    responses_final_events = frozenset({"response.completed", "response.incomplete", "response.failed"})
    responses_unread_events = frozenset(
        {
            "response.output_text.delta",
            "response.function_call_arguments.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_text.delta",
        }
    )

    async def responses(self, target: UpstreamTarget, body: dict[str, Any]) -> dict[str, Any]:
        """POST a client's Responses request as it came (model already mapped); return the Response."""
        response = await self.send(target, "POST", "responses", json=body)
        answer = self.read_json(response)
        if not isinstance(answer, dict) or not isinstance(answer.get("output"), list):
            raise errors.UpstreamMalformed("The provider's answer has no 'output'.")
        return answer

    async def responses_stream(
        self, target: UpstreamTarget, body: dict[str, Any]
    ) -> AsyncIterator[tuple[dict[str, Any], str]]:
        """Yield the provider's Responses stream events, each with its `data:` text as sent (to relay
        without serialising it again), up to `response.completed`, `.incomplete` or `.failed`. An
        `error` event raises ProviderError; a stream without a final event StreamTruncated.

        A delta event named by its `event:` line (`responses_unread_events`, most of a stream) is not
        parsed: nothing in it counts for usage or failover, so it comes as `{"type": name}` with its text."""
        async with self.open_stream(target, "responses", body) as response:
            async for name, data in iter_sse_events(response):
                if name in self.responses_unread_events and "\n" not in data:
                    yield {"type": name}, data
                    continue
                if data == "[DONE]":
                    break
                try:
                    event = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    raise errors.UpstreamMalformed("The provider sent a malformed stream event.") from exc
                if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                    raise errors.UpstreamMalformed("The provider sent a stream event without a 'type'.")
                if event["type"] == "error":
                    raise errors.ProviderError(f"The provider reported an error mid-stream: {event.get('message')}")
                yield event, data
                if event["type"] in self.responses_final_events:
                    return
        raise errors.StreamTruncated("The provider's stream ended before it finished.")


def _refuses_stream_options(exc: errors.GatewayError) -> bool:
    """An upstream 4xx that names `stream_options` (Mistral, Fireworks, some Azure deployments)."""
    client_error = isinstance(exc, errors.InvalidRequest) or exc.message.startswith("HTTP 4")
    return client_error and "stream_options" in exc.message


def _own_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The request without the other protocols' own parameters (`"anthropic": {...}`...)."""
    return {key: value for key, value in payload.items() if key not in PROTOCOL_EXTRA_FIELDS}


# The shapes the gateway reads (it relays the rest as it is): `choices` a list of objects, each
# message or delta an object whose `content` is a string or null and whose `tool_calls` are objects
# with a `function` object whose `arguments` is a string or null.


def _chunk_finishes(chunk: dict[str, Any]) -> bool:
    """Whether a choice of the stream chunk finishes; UpstreamMalformed for a chunk of the wrong
    shape (one pass over the choices: this runs for every chunk)."""
    choices = chunk.get("choices")
    if choices is None:
        return False
    if not isinstance(choices, list):
        raise errors.UpstreamMalformed("The provider sent a stream chunk of the wrong shape.")
    finishes = False
    for choice in choices:
        if not isinstance(choice, dict):
            raise errors.UpstreamMalformed("The provider sent a stream chunk of the wrong shape.")
        delta = choice.get("delta")
        if delta is not None and not _is_message(delta):
            raise errors.UpstreamMalformed("The provider sent a stream chunk of the wrong shape.")
        if choice.get("finish_reason"):
            finishes = True
    return finishes


def _is_message(message: Any) -> bool:
    if not isinstance(message, dict) or not isinstance(message.get("content"), str | None):
        return False
    calls = message.get("tool_calls")
    if calls is None:
        return True
    return isinstance(calls, list) and all(
        isinstance(call, dict)
        and isinstance(call.get("function") or {}, dict)
        and isinstance((call.get("function") or {}).get("arguments"), str | None)
        for call in calls
    )
