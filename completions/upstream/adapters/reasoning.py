"""Chat's `reasoning_effort` as a thinking budget in tokens, for the protocols that take a budget
(Anthropic's `thinking.budget_tokens`, Gemini's `thinkingConfig.thinkingBudget`).

`reasoning_effort` is the one internal field for reasoning: the Responses API's `reasoning.effort`
maps onto it too. Every budget is at least Anthropic's minimum (1024) and at most Gemini 2.5 Flash's
maximum (24576), so one table is valid for both.
"""

from typing import Any

THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 24576}
NO_THINKING = 0


def thinking_budget(payload: dict[str, Any]) -> int | None:
    """The thinking budget the request's `reasoning_effort` asks for: None when it names none,
    `NO_THINKING` (0) for "none"."""
    effort = payload.get("reasoning_effort")
    if effort is None:
        return None
    if effort == "none":
        return NO_THINKING
    return THINKING_BUDGETS.get(effort)


def add_anthropic_thinking(body: dict[str, Any], payload: dict[str, Any]) -> None:
    """Add extended thinking to a Messages API `body` for the chat `payload`'s `reasoning_effort`.

    `max_tokens` counts thinking too (as OpenAI's `max_completion_tokens` counts reasoning), so it is
    raised by the budget when it does not exceed it; `temperature`, and a `top_p` under 0.95, are left
    out because thinking refuses them. No thinking when a tool is forced (Anthropic refuses that) or
    when the turn answers tool calls: Anthropic then wants the earlier turn's signed thinking blocks
    back, and OpenAI clients do not keep them.
    """
    budget = thinking_budget(payload)
    forced_tool = (body.get("tool_choice") or {}).get("type") in ("any", "tool")
    last = body["messages"][-1] if body["messages"] else {"content": []}
    answers_tools = any(block.get("type") == "tool_result" for block in last["content"])
    if not budget or forced_tool or answers_tools:
        return
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if body["max_tokens"] <= budget:
        body["max_tokens"] += budget
    body.pop("temperature", None)
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        del body["top_p"]


def gemini_thinking_config(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Gemini's `thinkingConfig` for the chat `payload`'s `reasoning_effort`, or None: the budget, with
    the thoughts included in the answer (they become `reasoning_content`); "none" turns thinking off."""
    budget = thinking_budget(payload)
    if budget is None:
        return None
    if budget == NO_THINKING:
        return {"thinkingBudget": NO_THINKING}
    return {"thinkingBudget": budget, "includeThoughts": True}


def gemini_thoughts(candidate: dict[str, Any]) -> str:
    """The text of a Gemini candidate's thought parts (its reasoning)."""
    parts = (candidate.get("content") or {}).get("parts") or ()
    return "".join(part.get("text", "") for part in parts if part.get("thought"))
