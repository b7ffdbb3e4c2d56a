"""Responses API objects: the Response around output items, items from a chat answer, usage, and the
input items as `GET /v1/responses/{id}/input_items` lists them."""

import time
from typing import Any

from completions import errors
from completions.inbound.responses.request import ResponsesRequest, item_type, new_id
from completions.usage import message_text, usage_estimate

# Chat finish reasons that leave a response incomplete, and why (the Response's `incomplete_details`).
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_object(
    request: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    model: str,
    provider: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    error: dict[str, str] | None = None,
    incomplete_reason: str | None = None,
) -> dict[str, Any]:
    """A Response (OpenAI's `Response` schema, plus `provider` as chat answers carry it) echoing the
    request's settings."""
    raw = request.raw
    reasoning = raw.get("reasoning")
    response = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": request.instructions,
        "max_output_tokens": raw.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": raw.get("parallel_tool_calls") is not False,
        "previous_response_id": request.previous_response_id,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")} if reasoning else None,
        "store": request.store,
        "temperature": raw.get("temperature", 1.0),
        "text": {"format": (raw.get("text") or {}).get("format") or {"type": "text"}},
        "tool_choice": raw.get("tool_choice") or "auto",
        "tools": [echoed_tool(tool) for tool in raw.get("tools") or ()],
        "top_p": raw.get("top_p", 1.0),
        "truncation": "disabled",
        "metadata": raw.get("metadata") or {},
        "provider": provider,
    }
    if usage is not None:
        response["usage"] = usage
    if isinstance(raw.get("user"), str):
        response["user"] = raw["user"]
    return response


def echoed_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool as the Response lists it: function tools with every required field."""
    if tool.get("type") != "function":
        return tool
    return {
        "type": "function",
        "name": tool.get("name"),
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict") if isinstance(tool.get("strict"), bool) else None,
    }


def error_of(exc: errors.GatewayError) -> dict[str, str]:
    """A Response's `error`: `code` is one of the few the Responses API names."""
    code = "rate_limit_exceeded" if isinstance(exc, errors.RateLimited) else "server_error"
    return {"code": code, "message": exc.message}


# --- from a chat answer -------------------------------------------------------------------------


def message_item(text: str, *, status: str = "completed", item_id: str | None = None) -> dict[str, Any]:
    return {
        "id": item_id or new_id("msg"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [output_text(text)],
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(call_id: str, name: str, arguments: str, *, status: str = "completed") -> dict[str, Any]:
    return {
        "id": new_id("fc"),
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def reasoning_item(text: str) -> dict[str, Any]:
    """A chat answer's `reasoning_content` as a reasoning item with one summary part."""
    return {"id": new_id("rs"), "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


def output_from_message(message: dict[str, Any], *, incomplete: bool = False) -> list[dict[str, Any]]:
    """A chat answer's message as output items: reasoning, then the text, then each function call."""
    status = "incomplete" if incomplete else "completed"
    items = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(reasoning))
    content = message.get("content")
    text = content if isinstance(content, str) else message_text([message]) if isinstance(content, list) else ""
    if text or not message.get("tool_calls"):
        items.append(message_item(text, status=status))
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        items.append(
            function_call_item(
                str(call.get("id") or new_id("call")),
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
                status=status,
            )
        )
    return items


def response_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Chat usage as the Responses API's."""
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def chat_usage(usage: Any) -> dict[str, int]:
    """A Response's usage as the usage row reads it (prompt / completion tokens)."""
    if not isinstance(usage, dict):
        return {}
    return {
        "prompt_tokens": int(usage.get("input_tokens") or 0),
        "completion_tokens": int(usage.get("output_tokens") or 0),
    }


def valid_chat_usage(usage: Any) -> bool:
    return (
        isinstance(usage, dict)
        and isinstance(usage.get("prompt_tokens"), int)
        and isinstance(usage.get("completion_tokens"), int)
    )


def from_completion(
    request: ResponsesRequest, completion: dict[str, Any], *, model: str, provider: str
) -> dict[str, Any]:
    """The Response for a chat completion (its first choice)."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    incomplete_reason = INCOMPLETE_REASONS.get(choice.get("finish_reason"))
    output = output_from_message(message, incomplete=incomplete_reason is not None)
    usage = completion.get("usage")
    if not valid_chat_usage(usage):
        usage = usage_estimate(request.chat.prompt_text, message_text([message]))
    return response_object(
        request,
        response_id=new_id("resp"),
        created_at=int(completion.get("created") or time.time()),
        model=model,
        provider=provider,
        status="incomplete" if incomplete_reason else "completed",
        output=output,
        usage=response_usage(usage),
        incomplete_reason=incomplete_reason,
    )


# --- what is stored --------------------------------------------------------------------------------


def context_items(request: ResponsesRequest, response: dict[str, Any]) -> list[dict[str, Any]]:
    """What a continuation of `response` starts from: the request's items, then the output, output
    items without their ids (a provider that never stored them would look them up and fail)."""
    output = [
        item if item.get("type") == "reasoning" else {key: value for key, value in item.items() if key != "id"}
        for item in response.get("output") or ()
        if isinstance(item, dict)
    ]
    return [*request.items, *output]


def listed_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as `input_items` lists them: each with an id, a type, a status, parts for text."""
    listed = []
    for item in items:
        kind = item_type(item)
        entry = {**item, "type": kind, "id": item.get("id") or new_id(_ID_PREFIXES.get(kind, "item"))}
        if kind == "message":
            entry["content"] = _listed_content(entry.get("role"), entry.get("content"))
        if kind in ("message", "function_call", "function_call_output"):
            entry.setdefault("status", "completed")
        listed.append(entry)
    return listed


_ID_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


def _listed_content(role: Any, content: Any) -> Any:
    if not isinstance(content, str):
        return content
    if role == "assistant":
        return [output_text(content)]
    return [{"type": "input_text", "text": content}]
