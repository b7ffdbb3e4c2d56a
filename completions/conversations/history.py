"""The rules that turn a stored conversation and a request's messages into what goes upstream.

Pure functions over plain message dicts (no database, no I/O):

- `turn_messages`: which sent messages are new (the deduplication rule), which to store;
- `upstream_messages`: the system prompt, the stored history trimmed to the budget, the new messages;
- `prefer_provider`: a route plan with the conversation's provider tried first.

Deduplication: messages are compared normalised (role, content, name, tool_calls, tool_call_id;
system/developer messages aside). If the sent messages begin with the stored history, or with any
tail of it (a client that resends a sliding window), that overlap is not stored again; the rest is
new. Otherwise every sent message is new and follows the stored history.

System prompt: a conversation has one, the latest system (or developer) message it received. A sent
system message equal to it is dropped; a different one is stored and replaces it from this turn on.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from completions.routing.plan import RoutePlan
from completions.usage import estimate_tokens, message_text

INSTRUCTION_ROLES = frozenset({"system", "developer"})


def is_instruction(message: dict[str, Any]) -> bool:
    return message.get("role") in INSTRUCTION_ROLES


def normalised(message: dict[str, Any]) -> tuple:
    """What makes two messages the same message: text-only parts compare equal to the joined string,
    a missing content to an empty one, tool calls by id, name and arguments."""
    content = message.get("content")
    if type(content) is str and not message.get("tool_calls"):  # the common case, three times faster
        return (message.get("role"), content, message.get("name") or "", (), message.get("tool_call_id") or "")
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        content = "".join(str(p.get("text", "")) for p in content)
    if content is None:
        content = ""
    calls = tuple(
        (
            call.get("id") or "",
            (call.get("function") or {}).get("name") or "",
            (call.get("function") or {}).get("arguments") or "",
        )
        for call in message.get("tool_calls") or ()
        if isinstance(call, dict)
    )
    frozen_content = content if isinstance(content, str) else repr(content)
    return (message.get("role"), frozen_content, message.get("name") or "", calls, message.get("tool_call_id") or "")


def clean_message(message: dict[str, Any]) -> dict[str, Any]:
    """The fields of a message the conversation keeps."""
    kept: dict[str, Any] = {"role": message["role"], "content": message.get("content")}
    for key in ("name", "tool_calls", "tool_call_id"):
        if message.get(key):
            kept[key] = message[key]
    return kept


def system_prompt(messages: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest system or developer message, or None."""
    for message in reversed(messages):
        if is_instruction(message):
            return message
    return None


def history_overlap(stored: list[tuple], sent: list[tuple]) -> int:
    """How many leading sent messages repeat the stored history: the longest tail of `stored` that
    `sent` starts with (the whole history for a client that resends everything).

    Linear time: messages are interned to small integers (equal messages, equal numbers), then a
    Knuth-Morris-Pratt scan of `sent` over the last len(sent) stored messages ends in the state
    that is exactly the longest prefix of `sent` that is a suffix of `stored`.
    """
    if not stored or not sent:
        return 0
    numbers: dict[tuple, int] = {}
    pattern = [numbers.setdefault(m, len(numbers)) for m in sent]
    text = [numbers.get(m, -1) for m in stored[-len(sent) :]]
    fallback = [0] * len(pattern)  # the prefix function of `pattern`
    matched = 0
    for index in range(1, len(pattern)):
        while matched and pattern[index] != pattern[matched]:
            matched = fallback[matched - 1]
        if pattern[index] == pattern[matched]:
            matched += 1
        fallback[index] = matched
    matched = 0
    for number in text:
        while matched and (matched == len(pattern) or number != pattern[matched]):
            matched = fallback[matched - 1]
        if number == pattern[matched]:
            matched += 1
    return matched


@dataclass(frozen=True, slots=True)
class Turn:
    """A request's messages sorted out against the stored history."""

    to_store: list[dict[str, Any]]  # new messages, system ones included, in order
    prompt: dict[str, Any] | None  # the system prompt for this turn
    new: list[dict[str, Any]]  # new non-system messages (the current turn, never trimmed)


def turn_messages(stored: Sequence[dict[str, Any]], sent: Sequence[dict[str, Any]]) -> Turn:
    """Apply the deduplication and system prompt rules (see the module docstring)."""
    current_prompt = system_prompt(stored)
    sent_body = [m for m in sent if not is_instruction(m)]
    stored_body = [m for m in stored if not is_instruction(m)]
    tail = stored_body[max(0, len(stored_body) - len(sent_body)) :] if sent_body else []  # all an overlap can use
    repeated = history_overlap([normalised(m) for m in tail], [normalised(m) for m in sent_body])
    new = [clean_message(m) for m in sent_body[repeated:]]
    prompt = current_prompt
    to_store: list[dict[str, Any]] = []
    for message in sent:
        if is_instruction(message) and (prompt is None or normalised(message) != normalised(prompt)):
            prompt = clean_message(message)
            to_store.append(prompt)
    return Turn(to_store=to_store + new, prompt=prompt, new=new)


def message_tokens(message: dict[str, Any]) -> int:
    """An estimate of a message's tokens (text and tool-call arguments; four characters a token)."""
    return estimate_tokens(message_text([message])) + 1


def trimmed_history(
    history: Sequence[dict[str, Any]],
    *,
    reserved_messages: int,
    reserved_tokens: int,
    max_messages: int,
    max_tokens: int,
) -> list[dict[str, Any]]:
    """The newest whole turns of `history` that fit the budget beside what is reserved (the system
    prompt and the current turn). A turn starts at a user message, so the kept history never starts
    with an orphaned reply or tool result. 0 means no limit.

    With a message limit only the newest messages that it leaves room for are looked at, so the cost
    follows the limit, not the length of the history."""
    first = max(0, len(history) - max(0, max_messages - reserved_messages)) if max_messages else 0
    cuts = [i for i in range(first, len(history)) if i == 0 or history[i].get("role") == "user"] + [len(history)]
    tail_tokens = [0] * (len(history) + 1)
    for index in range(len(history) - 1, first - 1, -1):
        tail_tokens[index] = tail_tokens[index + 1] + message_tokens(history[index])
    for cut in cuts:
        count_ok = not max_messages or reserved_messages + len(history) - cut <= max_messages
        tokens_ok = not max_tokens or reserved_tokens + tail_tokens[cut] <= max_tokens
        if count_ok and tokens_ok:
            return list(history[cut:])
    return []


def upstream_messages(
    stored: Sequence[dict[str, Any]], turn: Turn, *, max_messages: int, max_tokens: int
) -> list[dict[str, Any]]:
    """System prompt first, then as much stored history as the budget allows, then the new messages."""
    head = [turn.prompt] if turn.prompt is not None else []
    reserved = [*head, *turn.new]
    if max_messages and len(reserved) >= max_messages:
        return [*head, *turn.new]  # no room for any history
    history = trimmed_history(
        [m for m in stored if not is_instruction(m)],
        reserved_messages=len(reserved),
        reserved_tokens=sum(message_tokens(m) for m in reserved) if max_tokens else 0,
        max_messages=max_messages,
        max_tokens=max_tokens,
    )
    return [*head, *history, *turn.new]


def prefer_provider(plan: RoutePlan, provider: str) -> RoutePlan:
    """The plan with `provider`'s routes first (a conversation's sticky provider). A plan the client
    pinned to a provider, or one that does not include `provider`, is returned unchanged."""
    if plan.pinned or not provider:
        return plan
    wanted = provider.lower()
    first = [route for route in plan.routes if route.provider.name.lower() == wanted]
    if not first or plan.routes[0] is first[0]:
        return plan
    rest = [route for route in plan.routes if route.provider.name.lower() != wanted]
    return dataclasses.replace(plan, routes=(*first, *rest))
