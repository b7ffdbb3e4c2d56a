"""A Responses API request: validated, continued from a stored response, and translated to chat.

`ResponsesRequest.parse` checks the fields the gateway reads (400 naming the field otherwise) and
keeps the client's body as sent: a native provider gets that body (`native_body`), everyone else the
chat request `translate` builds. What chat cannot carry (hosted tools, item references, file ids)
makes the request need the `responses` capability, so only a native provider is planned for it.
"""

import os
from dataclasses import dataclass, field
from typing import Any

from completions import errors
from completions.chat import ChatRequest
from completions.routing.plan import required_capabilities
from completions.serializers import (
    GATEWAY_FIELDS,
    json_object,
    upstream_payload,
    validated_chat_fields,
)
from g4fsite.conf import gateway_settings

RESPONSES = "responses"  # the capability of a provider-model that serves /responses itself
INSTRUCTION_ROLES = ("system", "developer")
MESSAGE_ROLES = ("user", "assistant", *INSTRUCTION_ROLES)
TOOL_CHOICES = ("none", "auto", "required")


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(16).hex()}"


def _fail(message: str, param: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(message, param=param)


def _optional(raw: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = raw.get(name)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise _fail(f"'{name}' must be {what}.", name)
    return value


def _number(raw: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(f"'{name}' must be a number from {low:g} to {high:g}.", name)
    return value


@dataclass
class ResponsesRequest:
    raw: dict[str, Any]  # the body as the client sent it
    model: str
    provider: str
    stream: bool
    store: bool
    instructions: str | None
    input: list[dict[str, Any]]  # the request's own input items, a string input as one user message
    previous_response_id: str | None
    context: list[dict[str, Any]] = field(default_factory=list)  # the previous response's items
    chat: ChatRequest | None = None  # the translation, for providers that speak chat
    untranslatable: str = ""  # why chat cannot carry the request ("" when it can)

    @classmethod
    def parse(cls, body: bytes, *, provider: str = "") -> "ResponsesRequest":
        """Parse and check a request body (raises InvalidJSON / ValidationFailed); `provider` from the URL."""
        raw = json_object(body)
        model = _optional(raw, "model", str, "a string")
        given = raw.get("input")
        if isinstance(given, str):
            items = [{"type": "message", "role": "user", "content": given}]
        elif isinstance(given, list):
            items = given
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    raise _fail(f"input[{index}] must be an object.", "input")
        elif given is None:
            items = []
        else:
            raise _fail("'input' must be a string or a list of items.", "input")
        previous = _optional(raw, "previous_response_id", str, "a string")
        if not items and not previous:
            raise _fail("'input' is required.", "input")
        for name in ("tools", "include"):
            _optional(raw, name, list, "a list")
        for name in ("text", "reasoning", "metadata"):
            _optional(raw, name, dict, "an object")
        for name in ("stream", "store", "parallel_tool_calls"):
            _optional(raw, name, bool, "true or false")
        _optional(raw, "instructions", str, "a string")
        limit = _optional(raw, "max_output_tokens", int, "a positive integer")
        if limit is not None and limit < 1:
            raise _fail("'max_output_tokens' must be a positive integer.", "max_output_tokens")
        _number(raw, "temperature", 0, 2)
        _number(raw, "top_p", 0, 1)
        named = _optional(raw, "provider", str, "a string")
        return cls(
            raw=raw,
            model=model or gateway_settings.DEFAULT_MODEL,
            provider=provider or named or gateway_settings.DEFAULT_PROVIDER,
            stream=bool(raw.get("stream")),
            store=raw.get("store") is not False,
            instructions=raw.get("instructions"),
            input=items,
            previous_response_id=previous or None,
            chat=None,
        )

    # --- what goes upstream ----------------------------------------------------------------------

    @property
    def items(self) -> list[dict[str, Any]]:
        """Everything the model sees besides the instructions: the stored context, then the input."""
        return [*self.context, *self.input] if self.context else self.input

    def needs(self) -> frozenset[str]:
        """Chat's capabilities for the translation, or `responses` when only a native provider can serve it."""
        if self.untranslatable:
            return frozenset({RESPONSES})
        return required_capabilities(self.chat.payload)

    def native_body(self, upstream_model: str) -> dict[str, Any]:
        """The client's body for a native provider: its model name, the stored context inlined in place
        of `previous_response_id` (the gateway keeps responses; the provider may never have seen it)."""
        body = {key: value for key, value in self.raw.items() if key not in GATEWAY_FIELDS}
        body["model"] = upstream_model
        if self.previous_response_id:
            body.pop("previous_response_id", None)
            body["input"] = self.items
        return body

    def translate(self) -> None:
        """Build the chat request for providers that speak chat, or note why chat cannot carry it."""
        try:
            chat = self._chat_fields()
        except _Untranslatable as exc:
            self.untranslatable = str(exc)
            return
        self.chat = ChatRequest(
            payload=upstream_payload(chat, validated_chat_fields(chat)),
            model=self.model,
            provider=self.provider,
            stream=self.stream,
            include_usage=True,
            conversation_id=None,
            proxy=None,
        )

    def _chat_fields(self) -> dict[str, Any]:
        raw = self.raw
        messages = [{"role": "system", "content": self.instructions}] if self.instructions else []
        messages.extend(chat_messages(self.items))
        chat: dict[str, Any] = {"model": self.model, "messages": messages, "stream": self.stream}
        tools = [chat_tool(tool, index) for index, tool in enumerate(raw.get("tools") or ())]
        if tools:
            chat["tools"] = tools
            if raw.get("parallel_tool_calls") is not None:
                chat["parallel_tool_calls"] = raw["parallel_tool_calls"]
        if raw.get("tool_choice") is not None:
            chat["tool_choice"] = chat_tool_choice(raw["tool_choice"])
        response_format = chat_response_format((raw.get("text") or {}).get("format"))
        if response_format is not None:
            chat["response_format"] = response_format
        for ours, theirs in (("max_output_tokens", "max_tokens"), ("temperature", "temperature"), ("top_p", "top_p")):
            if raw.get(ours) is not None:
                chat[theirs] = raw[ours]
        effort = (raw.get("reasoning") or {}).get("effort")
        if isinstance(effort, str):
            chat["reasoning_effort"] = effort
        if isinstance(raw.get("user"), str):
            chat["user"] = raw["user"]
        return chat


class _Untranslatable(Exception):
    """Part of a request chat has no way to say; the request needs a native provider."""


# --- items and fields, Responses to chat -------------------------------------------------------


def item_type(item: dict[str, Any]) -> str:
    """An input item's type; a bare `{role, content}` is a message (an "easy input message")."""
    kind = item.get("type")
    return kind if isinstance(kind, str) else "message" if "role" in item else ""


def chat_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as chat messages: function calls join the assistant message before them."""
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        kind = item_type(item)
        if kind == "message":
            role = item.get("role")
            if role not in MESSAGE_ROLES:
                raise _fail(f"input[{index}].role must be one of {', '.join(MESSAGE_ROLES)}.", "input")
            content = chat_content(item.get("content"), index)
            if role == "assistant" and isinstance(content, list):
                content = "".join(part.get("text", "") for part in content)
            # `developer` is OpenAI's newer name for `system`; many chat upstreams know only the latter.
            messages.append({"role": "system" if role == "developer" else role, "content": content})
        elif kind == "function_call":
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise _fail(f"input[{index}] (function_call) needs 'call_id' and 'name' strings.", "input")
            arguments = item.get("arguments")
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments or ""}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                last["content"] = last["content"] or None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str):
                raise _fail(f"input[{index}] (function_call_output) needs a 'call_id' string.", "input")
            if isinstance(output, list):
                output = chat_content(output, index)
            elif not isinstance(output, str):
                raise _fail(f"input[{index}].output must be a string or a list of parts.", "input")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
        elif kind != "reasoning":  # reasoning items only mean something to the model that wrote them
            raise _Untranslatable(f"input item type '{kind or '?'}'")
    return messages


def chat_content(content: Any, index: int) -> str | list[dict[str, Any]]:
    """A message's content (a string or input/output parts) as chat content."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _fail(f"input[{index}].content must be a string or a list of parts.", "input")
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text", "refusal"):
            text = part.get("text", part.get("refusal"))
            if not isinstance(text, str):
                raise _fail(f"input[{index}]: a {kind} part needs a 'text' string.", "input")
            parts.append({"type": "text", "text": text})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image = {"url": part["image_url"]}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file" and isinstance(part.get("file_data"), str):
            parts.append({"type": "file", "file": {"file_data": part["file_data"], "filename": part.get("filename")}})
        elif kind in ("input_image", "input_file", "input_audio"):
            raise _Untranslatable(f"a {kind} part without inline data or a URL")
        else:
            raise _fail(f"input[{index}]: unknown content part type {kind!r}.", "input")
    return parts


def chat_tool(tool: Any, index: int) -> dict[str, Any]:
    """A flat Responses function tool as chat's `{"type": "function", "function": {...}}`."""
    if not isinstance(tool, dict):
        raise _fail(f"tools[{index}] must be an object.", "tools")
    if tool.get("type") != "function":
        raise _Untranslatable(f"tool type '{tool.get('type')}'")
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(f"tools[{index}].name must be a non-empty string.", "tools")
    function: dict[str, Any] = {"name": name, "parameters": tool.get("parameters") or {"type": "object"}}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def chat_tool_choice(choice: Any) -> Any:
    if choice in TOOL_CHOICES:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    if isinstance(choice, dict) and isinstance(choice.get("type"), str):
        raise _Untranslatable(f"tool_choice type '{choice['type']}'")
    raise _fail("'tool_choice' must be 'none', 'auto', 'required' or {'type': 'function', 'name': ...}.", "tool_choice")


def chat_response_format(text_format: Any) -> dict[str, Any] | None:
    """`text.format` as chat's `response_format` (None for plain text)."""
    if text_format is None:
        return None
    kind = text_format.get("type") if isinstance(text_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(text_format.get("schema"), dict):
        schema = {"name": text_format.get("name") or "response", "schema": text_format["schema"]}
        for key in ("description", "strict"):
            if text_format.get(key) is not None:
                schema[key] = text_format[key]
        return {"type": "json_schema", "json_schema": schema}
    raise _fail("'text.format' must have type 'text', 'json_object' or 'json_schema' (with a 'schema').", "text")
