"""The pure conversation rules: deduplication, system prompt, trimming, sticky provider order."""

import random
import time

from catalogue.snapshot import Route
from completions.conversations.history import (
    history_overlap,
    message_tokens,
    normalised,
    prefer_provider,
    trimmed_history,
    turn_messages,
    upstream_messages,
)
from completions.routing.plan import RoutePlan
from tests.helpers import provider_entry

SYSTEM = {"role": "system", "content": "be brief"}
STORED = [
    SYSTEM,
    {"role": "user", "content": "one"},
    {"role": "assistant", "content": "reply one"},
    {"role": "user", "content": "two"},
    {"role": "assistant", "content": "reply two"},
]


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_only_new_messages_follow_the_history():
    turn = turn_messages(STORED, [user("three")])
    assert turn.new == [user("three")] and turn.to_store == [user("three")] and turn.prompt == SYSTEM
    assert upstream_messages(STORED, turn, max_messages=0, max_tokens=0) == [*STORED, user("three")]


def test_a_full_resend_is_not_duplicated():
    sent = [dict(m) for m in STORED] + [user("three")]
    sent[2] = {**sent[2], "refusal": None, "annotations": []}  # what SDK dumps add is ignored
    turn = turn_messages(STORED, sent)
    assert turn.to_store == [user("three")]
    assert upstream_messages(STORED, turn, max_messages=0, max_tokens=0) == [*STORED, user("three")]


def test_a_sliding_window_resend_is_not_duplicated():
    turn = turn_messages(STORED, [user("two"), {"role": "assistant", "content": "reply two"}, user("three")])
    assert turn.to_store == [user("three")]


def test_text_parts_equal_the_plain_string():
    sent = [SYSTEM, {"role": "user", "content": [{"type": "text", "text": "one"}]}, STORED[2], user("x")]
    assert turn_messages(STORED[:3], sent).to_store == [user("x")]


def test_messages_that_do_not_repeat_the_history_are_all_new():
    sent = [user("one"), user("again")]  # "one" alone is not a tail of the history (it ends with a reply)
    assert turn_messages(STORED, sent).to_store == sent


def test_a_different_system_message_replaces_the_prompt_and_is_stored():
    new_system = {"role": "system", "content": "be long"}
    turn = turn_messages(STORED, [new_system, user("three")])
    assert turn.prompt == new_system and turn.to_store == [new_system, user("three")]
    sent = upstream_messages(STORED, turn, max_messages=0, max_tokens=0)
    assert sent[0] == new_system and SYSTEM not in sent
    # The same system message again is not stored again.
    assert turn_messages([*STORED, new_system], [new_system, user("x")]).to_store == [user("x")]


def test_tool_calls_compare_by_id_name_and_arguments():
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    stored = [user("q"), {"role": "assistant", "content": None, "tool_calls": [call]}]
    sent = [
        user("q"),
        {"role": "assistant", "content": "", "tool_calls": [{**call, "index": 0}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    assert turn_messages(stored, sent).to_store == [{"role": "tool", "content": "42", "tool_call_id": "call_1"}]


def quadratic_overlap(stored: list, sent: list) -> int:
    """The matcher before it was made linear, kept as the reference for the rule's results."""
    if not stored or not sent:
        return 0
    for start in range(len(stored)):
        length = len(stored) - start
        if length <= len(sent) and stored[start] == sent[0] and stored[start:] == sent[:length]:
            return length
    return 0


def test_the_linear_matcher_agrees_with_the_quadratic_reference():
    rng = random.Random(1313)
    for _ in range(3000):
        alphabet = [("user", str(n)) for n in range(rng.randint(1, 4))]  # few symbols: many partial matches
        stored = [rng.choice(alphabet) for _ in range(rng.randint(0, 14))]
        sent = [rng.choice(alphabet) for _ in range(rng.randint(0, 14))]
        if stored and rng.random() < 0.5:  # often a real overlap, with something after it
            sent = stored[rng.randint(0, len(stored) - 1) :] + sent
        assert history_overlap(stored, sent) == quadratic_overlap(stored, sent), (stored, sent)


def test_matching_is_linear_in_the_history_and_the_request():
    def same(count: int) -> list[tuple]:  # equal messages, each its own objects, as loaded and sent
        return [normalised({"role": "user", "content": "".join(["sa", "me"])}) for _ in range(count)]

    stored, sent = [*same(5000), normalised({"role": "assistant", "content": "y"})], same(5000)
    started = time.perf_counter()
    assert history_overlap(stored, sent) == 0 and history_overlap(stored, stored) == len(stored)
    assert history_overlap(stored[:-1], sent) == 5000
    assert time.perf_counter() - started < 0.5  # the quadratic matcher took about 3 s here


def reference_trimmed_history(history, *, reserved_messages, reserved_tokens, max_messages, max_tokens):
    """Trimming before it looked only at the window the message limit leaves (the reference)."""
    cuts = [0] + [i for i, m in enumerate(history) if m.get("role") == "user" and i > 0] + [len(history)]
    tail = [0] * (len(history) + 1)
    for index in range(len(history) - 1, -1, -1):
        tail[index] = tail[index + 1] + message_tokens(history[index])
    for cut in cuts:
        count_ok = not max_messages or reserved_messages + len(history) - cut <= max_messages
        if count_ok and (not max_tokens or reserved_tokens + tail[cut] <= max_tokens):
            return list(history[cut:])
    return []


def test_windowed_trimming_agrees_with_the_reference():
    rng = random.Random(1010)
    for _ in range(2000):
        history = [
            {"role": rng.choice(["user", "assistant", "tool"]), "content": "x" * rng.randint(0, 40)}
            for _ in range(rng.randint(0, 12))
        ]
        budget = {
            "reserved_messages": rng.randint(0, 4),
            "reserved_tokens": rng.randint(0, 10),
            "max_messages": rng.randint(0, 10),
            "max_tokens": rng.choice([0, rng.randint(1, 60)]),
        }
        assert trimmed_history(history, **budget) == reference_trimmed_history(history, **budget), (history, budget)


def test_trimming_drops_oldest_whole_turns_and_keeps_the_system_prompt():
    turn = turn_messages(STORED, [user("three")])
    # Budget of 4 messages: system + newest whole turn that fits + the new message.
    sent = upstream_messages(STORED, turn, max_messages=4, max_tokens=0)
    assert sent == [SYSTEM, user("two"), STORED[4], user("three")]
    # Too small for any history: system prompt and the current turn only.
    assert upstream_messages(STORED, turn, max_messages=1, max_tokens=0) == [SYSTEM, user("three")]


def test_trimming_by_estimated_tokens():
    history = [
        user("a" * 400),
        {"role": "assistant", "content": "b" * 400},
        user("c"),
        {"role": "assistant", "content": "d"},
    ]
    kept = trimmed_history(history, reserved_messages=1, reserved_tokens=5, max_messages=0, max_tokens=50)
    assert kept == history[2:]
    assert trimmed_history(history, reserved_messages=1, reserved_tokens=5, max_messages=0, max_tokens=0) == history


def test_trimming_never_starts_with_an_orphaned_reply():
    history = [
        user("a"),
        {"role": "assistant", "content": "x", "tool_calls": [{"id": "c", "function": {}}]},
        {"role": "tool", "tool_call_id": "c", "content": "r"},
        {"role": "assistant", "content": "y"},
        user("b"),
        {"role": "assistant", "content": "z"},
    ]
    kept = trimmed_history(history, reserved_messages=1, reserved_tokens=0, max_messages=4, max_tokens=0)
    assert kept == history[4:]


def _route(name: str, priority: int) -> Route:
    provider = provider_entry(name, id=priority, priority=priority)
    return Route(provider=provider, model="m", upstream_name="m", capabilities=frozenset({"chat"}))


def test_prefer_provider_puts_the_sticky_route_first():
    plan = RoutePlan(model="m", routes=(_route("high", 9), _route("low", 1), _route("mid", 5)))
    assert [r.provider.name for r in prefer_provider(plan, "LOW").routes] == ["low", "high", "mid"]
    assert prefer_provider(plan, "gone") is plan and prefer_provider(plan, "") is plan
    pinned = RoutePlan(model="m", routes=(_route("high", 9),), pinned=True)
    assert prefer_provider(pinned, "low") is pinned
