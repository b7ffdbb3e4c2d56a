"""OpenAI chat request -> Anthropic Messages API body (`messages_request`); see `anthropic.py` for the
choices the translation makes."""

import re
from typing import Any

import orjson

from completions import errors
from completions.upstream.adapters.reasoning import add_anthropic_thinking
from completions.upstream.adapters.translation import merge_extra, message_text, tool_call_arguments
from completions.upstream.safe_fetch import parse_data_url

DEFAULT_MAX_TOKENS = 4096
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
JSON_INSTRUCTION = "Respond only with one valid JSON object, with no text before or after it."
# claude-{family}-{major}[-{minor}][-{date}], the naming since Claude 4.
_MODEL_NAME = re.compile(r"claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?:-\d{8})?")


def messages_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The Messages API body for an OpenAI chat request; the request's `anthropic` object is merged in last."""
    if (payload.get("n") or 1) > 1:
        raise errors.ValidationFailed("The 'anthropic' protocol returns one choice: 'n' must be 1.", param="n")
    system, messages = _messages(payload.get("messages") or [])
    if not messages:
        raise errors.UnsupportedCapability(
            "The 'anthropic' protocol needs at least one user or assistant message besides system messages.",
            param="messages",
        )
    native_json = supports_structured_output(payload["model"])
    body: dict[str, Any] = {
        "model": payload["model"],
        "messages": messages,
        "max_tokens": payload.get("max_completion_tokens") or payload.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    output_format = _output_format(payload.get("response_format") or {}, system, native=native_json)
    if output_format:
        body["output_config"] = {"format": output_format}
    if system:
        body["system"] = "\n\n".join(system)
    body.update(_sampling(payload))
    stop = payload.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if payload.get("user"):
        body["metadata"] = {"user_id": str(payload["user"])}
    body.update(_tools(payload, history_uses_tools=any(_uses_tools(m) for m in messages), strict=native_json))
    add_anthropic_thinking(body, payload)
    return merge_extra(body, payload.get("anthropic"))


def supports_structured_output(model: str) -> bool:
    """Whether the model takes `output_config.format` and strict tools: Claude Opus 4.1, and every
    Claude 4.5 or later (older models and other names get the system-prompt instruction)."""
    match = _MODEL_NAME.search(model)
    if not match:
        return False
    version = (int(match[2]), int(match[3] or 0))
    return version >= (4, 5) or (match[1] == "opus" and version >= (4, 1))


def _output_format(response_format: dict[str, Any], system: list[str], *, native: bool) -> dict[str, Any] | None:
    """Native structured output for a strict json_schema on a model that has it; else an instruction
    appended to `system` (json_object, or a schema the model cannot enforce)."""
    if response_format.get("type") == "json_object":
        system.append(JSON_INSTRUCTION)
    elif response_format.get("type") == "json_schema":
        json_schema = response_format.get("json_schema") or {}
        schema = json_schema.get("schema") or {}
        if native and json_schema.get("strict") is True:
            return {"type": "json_schema", "schema": schema}
        system.append(f"{JSON_INSTRUCTION} It must match this JSON schema: {orjson.dumps(schema).decode()}")
    return None


def _sampling(payload: dict[str, Any]) -> dict[str, Any]:
    """Only what the client set, and never both temperature and top_p (current models refuse the pair:
    temperature wins); temperature is clamped to Anthropic's 0..1."""
    sampling: dict[str, Any] = {}
    if payload.get("temperature") is not None:
        sampling["temperature"] = min(float(payload["temperature"]), 1.0)
    elif payload.get("top_p") is not None:
        sampling["top_p"] = payload["top_p"]
    if payload.get("top_k") is not None:
        sampling["top_k"] = payload["top_k"]
    return sampling


def _messages(openai_messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Split OpenAI messages into system texts and alternating Anthropic turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(openai_messages):
        role = message.get("role")
        if role in ("system", "developer"):
            text = message_text(message.get("content"))
            if text:
                system.append(text)
            continue
        where = f"messages[{index}]"
        if role == "user":
            turn_role, blocks = "user", _user_blocks(message.get("content"), where)
        elif role == "assistant":
            turn_role, blocks = "assistant", _assistant_blocks(message)
        elif role == "tool":
            turn_role, blocks = "user", [_tool_result_block(message, where)]
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


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for position, part in enumerate(content or ()):
        kind, part_where = part.get("type"), f"{where}.content[{position}]"
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block((part.get("image_url") or {}).get("url") or "", part_where))
        elif kind == "file" and str((part.get("file") or {}).get("file_data", "")).startswith("data:"):
            blocks.append(_document_block(part["file"]["file_data"], part_where))
        else:
            raise errors.UnsupportedCapability(
                f"{part_where}: the 'anthropic' protocol cannot send '{kind}' content parts.", param="messages"
            )
    return blocks


def _image_block(url: str, where: str) -> dict[str, Any]:
    if url.startswith("data:"):
        media_type, data = parse_data_url(url)
        if media_type not in IMAGE_MEDIA_TYPES:
            raise errors.UnsupportedCapability(
                f"{where}: the 'anthropic' protocol takes JPEG, PNG, GIF and WebP images, not '{media_type}'.",
                param="messages",
            )
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise errors.ValidationFailed(f"{where}: an image_url must be a data URL or an http(s) URL.", param="messages")


def _document_block(file_data: str, where: str) -> dict[str, Any]:
    """A PDF as a base64 document block; other files are refused (Anthropic reads PDFs and plain text,
    and text belongs in a text part)."""
    media_type, data = parse_data_url(file_data)
    if media_type != "application/pdf":
        raise errors.UnsupportedCapability(
            f"{where}: the 'anthropic' protocol takes PDF files only, not '{media_type}'.", param="messages"
        )
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    text = message_text(message.get("content"))
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = tool_call_arguments(function)
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments})
    return blocks


def _tool_result_block(message: dict[str, Any], where: str) -> dict[str, Any]:
    """A `tool_result` answering the call; its images become image blocks inside it."""
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
    content = message.get("content")
    images = [
        _image_block((part.get("image_url") or {}).get("url") or "", f"{where}.content[{position}]")
        for position, part in enumerate(content if isinstance(content, list) else ())
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]
    text = message_text(content)
    if images:
        block["content"] = ([{"type": "text", "text": text}] if text else []) + images
    elif text:
        block["content"] = text
    return block


def _uses_tools(turn: dict[str, Any]) -> bool:
    return any(block["type"] in ("tool_use", "tool_result") for block in turn["content"])


def _tools(payload: dict[str, Any], *, history_uses_tools: bool, strict: bool) -> dict[str, Any]:
    """`tools` and `tool_choice` for the request (none at all when the client sent none); a function's
    `strict` is passed on to models with structured outputs."""
    tools = []
    for tool in payload.get("tools") or ():
        if tool.get("type", "function") != "function":
            continue
        function = tool["function"]
        entry = {
            "name": function["name"],
            "description": function.get("description") or "",
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if strict and function.get("strict") is True:
            entry["strict"] = True
        tools.append(entry)
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
