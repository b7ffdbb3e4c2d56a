"""The OpenAI-compatible protocol: OpenAI, Groq, OpenRouter, DeepSeek, Ollama, vLLM, LM Studio..."""

from collections.abc import AsyncIterator
from typing import Any

import orjson

from completions import errors
from completions.adapters.base import (
    Adapter,
    SpeechResult,
    UpstreamTarget,
    iter_sse_data,
    raise_for_upstream_status,
    translate_errors,
)


class OpenAIAdapter(Adapter):
    """Passes OpenAI requests through nearly untouched; the upstream speaks the same API."""

    protocol = "openai"

    def headers(self, target: UpstreamTarget) -> dict[str, str]:
        headers = {"content-type": "application/json", **target.headers}
        if target.api_key:
            headers["authorization"] = f"Bearer {target.api_key}"
        if target.cookies:
            headers["cookie"] = target.cookie_header()
        return headers

    async def chat(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        body = {**payload, "stream": False}
        body.pop("stream_options", None)
        with translate_errors():
            response = await self.client.post(
                target.url("chat/completions"),
                content=orjson.dumps(body),
                headers=self.headers(target),
                timeout=target.httpx_timeout(),
            )
        raise_for_upstream_status(response)
        completion = self.read_json(response)
        if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
            raise errors.UpstreamMalformed("The provider's answer has no 'choices'.")
        return completion

    async def chat_stream(self, target: UpstreamTarget, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        finished = False
        with translate_errors():
            async with self.client.stream(
                "POST",
                target.url("chat/completions"),
                content=orjson.dumps(body),
                headers=self.headers(target),
                timeout=target.httpx_timeout(),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise_for_upstream_status(response)
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
                    if any(choice.get("finish_reason") for choice in chunk.get("choices") or ()):
                        finished = True
                    yield chunk
        if not finished:
            raise errors.ProviderError("The provider's stream ended before it finished.", code="stream_truncated")

    async def list_models(self, target: UpstreamTarget) -> list[dict[str, Any]]:
        with translate_errors():
            response = await self.client.get(
                target.url("models"), headers=self.headers(target), timeout=target.httpx_timeout()
            )
        raise_for_upstream_status(response)
        body = self.read_json(response)
        models = body.get("data") if isinstance(body, dict) else body
        if not isinstance(models, list):
            raise errors.UpstreamMalformed("The provider's model list has no 'data'.")
        return [model for model in models if isinstance(model, dict) and model.get("id")]

    async def images(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        with translate_errors():
            response = await self.client.post(
                target.url("images/generations"),
                content=orjson.dumps(payload),
                headers=self.headers(target),
                timeout=target.httpx_timeout(),
            )
        raise_for_upstream_status(response)
        body = self.read_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise errors.UpstreamMalformed("The provider's image answer has no 'data'.")
        return body

    async def transcription(
        self, target: UpstreamTarget, file: tuple[str, bytes, str], payload: dict[str, Any]
    ) -> dict[str, Any] | str:
        headers = {k: v for k, v in self.headers(target).items() if k != "content-type"}
        data = {key: str(value) for key, value in payload.items() if value is not None}
        with translate_errors():
            response = await self.client.post(
                target.url("audio/transcriptions"),
                data=data,
                files={"file": file},
                headers=headers,
                timeout=target.httpx_timeout(),
            )
        raise_for_upstream_status(response)
        if payload.get("response_format") in ("text", "srt", "vtt"):
            return response.text
        return self.read_json(response)

    async def speech(self, target: UpstreamTarget, payload: dict[str, Any]) -> SpeechResult:
        with translate_errors():
            response = await self.client.post(
                target.url("audio/speech"),
                content=orjson.dumps(payload),
                headers=self.headers(target),
                timeout=target.httpx_timeout(),
            )
        raise_for_upstream_status(response)
        return SpeechResult(response.content, response.headers.get("content-type", "audio/mpeg"))
