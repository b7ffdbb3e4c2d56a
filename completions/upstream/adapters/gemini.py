"""The Gemini API (`POST {base}/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`).

`base` is like "https://generativelanguage.googleapis.com/v1beta"; the key goes in `x-goog-api-key`.
Where the two APIs differ, the translation chooses:
- system and developer messages become `systemInstruction`; roles are `user` and `model`, and
  consecutive same-role turns merge;
- `tool` messages become `functionResponse` parts named after the assistant tool call they answer;
  a result that is not a JSON object is wrapped as `{"content": ...}`;
- Gemini needs image bytes inline: data URLs are passed on, http(s) URLs are fetched through
  `completions.upstream.safe_fetch` (public addresses only, size and time limits);
- JSON schemas (tool parameters, `response_format` json_schema) go as they are in the plain JSON
  Schema fields `parametersJsonSchema` / `responseJsonSchema` (no lossy conversion to `Schema`);
- `n` maps to `candidateCount`, `seed`, `top_k` to `topK`, `logprobs` / `top_logprobs` to
  `responseLogprobs` / `logprobs` (answered as OpenAI logprobs), `safety_settings` to
  `safetySettings`; the request's `gemini` object is merged into the body last;
- a malformed or refused function call (`MALFORMED_FUNCTION_CALL`...) is an error, not a "stop";
- replayed function calls carry Gemini's documented placeholder thought signature, because Gemini 3
  rejects a history of function calls without one and OpenAI clients do not keep the real one;
- tool call ids are made up by the gateway (Gemini has none); thought parts become `reasoning_content`
  and `reasoning_effort` sets `thinkingConfig` (`reasoning.gemini_thinking_config`).
"""

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson

from completions import errors
from completions.upstream.adapters.base import Adapter, UpstreamTarget
from completions.upstream.adapters.gemini_embeddings import GeminiEmbeddings
from completions.upstream.adapters.gemini_response import StreamTranslator, chat_completion
from completions.upstream.adapters.reasoning import gemini_thinking_config
from completions.upstream.adapters.translation import merge_extra, message_text, tool_call_arguments
from completions.upstream.safe_fetch import fetch_public, parse_data_url
from completions.upstream.sse import iter_sse_data
from completions.upstream.status import raise_for_upstream_status, upstream_error_message
from completions.upstream.transport import UpstreamResponse
from g4fsite.conf import gateway_settings

MAX_MODEL_PAGES = 20
PLACEHOLDER_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
# OpenAI request field -> generationConfig field, copied as they are.
GENERATION_FIELDS = {"temperature": "temperature", "top_p": "topP", "top_k": "topK", "seed": "seed"} | {
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


class GeminiAdapter(GeminiEmbeddings, Adapter):
    """Translates OpenAI chat requests to Gemini `generateContent` calls and the answers back."""

    protocol = "gemini"

    def headers(self, target: UpstreamTarget) -> dict[str, str]:
        headers = super().headers(target)
        if target.api_key:
            headers["x-goog-api-key"] = target.api_key
        return headers

    def raise_for_status(self, response: UpstreamResponse) -> None:
        raise_for_gemini_status(response)

    async def chat(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        path = f"{model_path(payload['model'])}:generateContent"
        body = await self.generate_content_request(payload)
        response = await self.send(target, "POST", path, json=body)
        answer = self.read_json(response)
        if not isinstance(answer, dict) or not (answer.get("candidates") or answer.get("promptFeedback")):
            raise errors.UpstreamMalformed("The provider's answer has no 'candidates'.")
        return chat_completion(answer, model=payload["model"])

    async def chat_stream(self, target: UpstreamTarget, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        path = f"{model_path(payload['model'])}:streamGenerateContent"
        body = await self.generate_content_request(payload)
        translator = StreamTranslator(model=payload["model"])
        async with self.open_stream(target, path, body, params={"alt": "sse"}) as response:
            async for data in iter_sse_data(response):
                for chunk in translator.feed(data):
                    yield chunk
        for chunk in translator.finish():
            yield chunk

    async def list_models(self, target: UpstreamTarget) -> list[dict[str, Any]]:
        """Models that can `generateContent`, with the "models/" prefix taken off their names."""
        models: list[dict[str, Any]] = []
        params = {"pageSize": "1000"}
        for _page in range(MAX_MODEL_PAGES):
            response = await self.send(target, "GET", "models", params=params)
            body = self.read_json(response)
            if not isinstance(body, dict) or not isinstance(body.get("models", []), list):
                raise errors.UpstreamMalformed("The provider's model list has no 'models'.")
            for model in body.get("models", []):
                if not isinstance(model, dict) or not model.get("name"):
                    continue
                methods = model.get("supportedGenerationMethods")
                if methods is None or "generateContent" in methods:
                    models.append({**model, "id": model["name"].removeprefix("models/")})
            if not body.get("nextPageToken"):
                break
            params = {"pageSize": "1000", "pageToken": body["nextPageToken"]}
        return models

    async def generate_content_request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The `generateContent` body for an OpenAI chat request (fetches http(s) images)."""
        system: list[dict[str, Any]] = []
        contents: list[dict[str, Any]] = []
        tool_names: dict[str, str] = {}
        for message in payload.get("messages") or ():
            role = message.get("role")
            if role in ("system", "developer"):
                system += [{"text": text} for text in [message_text(message.get("content"))] if text]
                continue
            if role == "user":
                content_role, parts = "user", await self.user_parts(message.get("content"))
            elif role == "assistant":
                content_role, parts = "model", _model_parts(message, tool_names)
            elif role == "tool":
                content_role, parts = "user", [_function_response(message, tool_names)]
            else:
                raise errors.ValidationFailed(f"The 'gemini' protocol cannot send '{role}' messages.", param="messages")
            if not parts:
                continue
            if contents and contents[-1]["role"] == content_role:
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": content_role, "parts": parts})
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        body.update(_tools(payload))
        config = generation_config(payload)
        if config:
            body["generationConfig"] = config
        if payload.get("safety_settings"):
            body["safetySettings"] = payload["safety_settings"]
        return merge_extra(body, payload.get("gemini"))

    async def user_parts(self, content: Any) -> list[dict[str, Any]]:
        if isinstance(content, str):
            return [{"text": content}] if content else []
        parts = []
        for part in content or ():
            kind = part.get("type")
            if kind == "text":
                if part.get("text"):
                    parts.append({"text": part["text"]})
            elif kind == "image_url":
                parts.append(await self.inline_image((part.get("image_url") or {}).get("url") or ""))
            elif kind == "input_audio":
                audio = part.get("input_audio") or {}
                parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format')}", "data": audio.get("data")}})
            elif kind == "file" and str((part.get("file") or {}).get("file_data", "")).startswith("data:"):
                mime_type, data = parse_data_url(part["file"]["file_data"])
                parts.append({"inlineData": {"mimeType": mime_type, "data": data}})
            else:
                raise errors.UnsupportedCapability(f"The 'gemini' protocol cannot send '{kind}' content parts.")
        return parts

    async def inline_image(self, url: str) -> dict[str, Any]:
        if url.startswith("data:"):
            mime_type, data = parse_data_url(url)
        elif url.startswith(("http://", "https://")):
            image, mime_type = await fetch_public(
                url,
                client=self.client,
                max_bytes=gateway_settings.IMAGE_FETCH_MAX_BYTES,
                timeout=gateway_settings.IMAGE_FETCH_TIMEOUT,
            )
            data = base64.b64encode(image).decode("ascii")
        else:
            raise errors.ValidationFailed("An image_url must be a data URL or an http(s) URL.", param="messages")
        return {"inlineData": {"mimeType": mime_type, "data": data}}


def model_path(model: str) -> str:
    """The URL path of a model (`models/{name}`, or `tunedModels/{name}` as given), its name quoted.
    A name with `/`, `?`, `#` or `\\` (which could reach another path on the upstream host, with the
    operator's key) or that is a dot segment is a 400 naming `model`."""
    collection, slash, name = model.partition("/")
    if not slash or collection not in ("models", "tunedModels"):
        collection, name = "models", model
    if not name or any(char in name for char in "/?#\\") or name in (".", ".."):
        raise errors.ValidationFailed(
            f"Invalid Gemini model name {model!r}: it must be one path segment, without '/', '?', '#' or '\\'.",
            param="model",
        )
    return f"{collection}/{quote(name, safe='')}"


def raise_for_gemini_status(response: UpstreamResponse) -> None:
    """`raise_for_upstream_status`, except that Gemini reports a bad key or region as HTTP 400."""
    if response.status_code == 400:
        content = response.content
        if b"API_KEY_INVALID" in content or b"API key not valid" in content:
            raise errors.UpstreamAuthFailed(f"HTTP 400: {upstream_error_message(response)}")
        if b"FAILED_PRECONDITION" in content:
            raise errors.ProviderError(f"HTTP 400: {upstream_error_message(response)}")
    raise_for_upstream_status(response)


def _model_parts(message: dict[str, Any], tool_names: dict[str, str]) -> list[dict[str, Any]]:
    """A replayed assistant turn; remembers each tool call's name for the `tool` messages after it."""
    text = message_text(message.get("content"))
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        tool_names[call.get("id") or ""] = function.get("name") or ""
        call_part = {"name": function.get("name"), "args": tool_call_arguments(function)}
        part: dict[str, Any] = {"functionCall": call_part}
        if position == 0:
            part["thoughtSignature"] = PLACEHOLDER_THOUGHT_SIGNATURE
        parts.append(part)
    return parts


def _function_response(message: dict[str, Any], tool_names: dict[str, str]) -> dict[str, Any]:
    name = tool_names.get(message.get("tool_call_id") or "")
    if not name:
        raise errors.ValidationFailed(
            f"Tool message answers unknown tool_call_id '{message.get('tool_call_id')}'.", param="messages"
        )
    text = message_text(message.get("content"))
    try:
        result = orjson.loads(text)
    except orjson.JSONDecodeError:
        result = text
    return {"functionResponse": {"name": name, "response": result if isinstance(result, dict) else {"content": result}}}


def _tools(payload: dict[str, Any]) -> dict[str, Any]:
    declarations = []
    for tool in payload.get("tools") or ():
        if tool.get("type", "function") != "function":
            continue
        function = tool["function"]
        declaration = {"name": function["name"], "description": function.get("description") or ""}
        parameters = function.get("parameters") or {}
        if parameters.get("properties"):
            declaration["parametersJsonSchema"] = parameters
        declarations.append(declaration)
    if not declarations:
        return {}
    choice = payload.get("tool_choice") or "auto"
    if isinstance(choice, dict):
        config = {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {}).get("name")]}
    else:
        config = {"mode": {"none": "NONE", "required": "ANY"}.get(choice, "AUTO")}
    return {"tools": [{"functionDeclarations": declarations}], "toolConfig": {"functionCallingConfig": config}}


def generation_config(payload: dict[str, Any]) -> dict[str, Any]:
    config = {name: payload[field] for field, name in GENERATION_FIELDS.items() if payload.get(field) is not None}
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    if (payload.get("n") or 1) > 1:
        config["candidateCount"] = payload["n"]
    stop = payload.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    response_format = payload.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    if payload.get("logprobs"):
        config["responseLogprobs"] = True
        if payload.get("top_logprobs"):
            config["logprobs"] = payload["top_logprobs"]
    if thinking := gemini_thinking_config(payload):
        config["thinkingConfig"] = thinking
    return config
