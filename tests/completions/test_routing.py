"""Routing rules over plain catalogue data (no database, no I/O)."""

import pytest

from catalogue.snapshot import ModelEntry, ProviderEntry, Route
from completions import errors
from completions.routing import plan_for_model, required_capabilities, unavailable_reason


def provider(name: str, *, priority: int = 0, status: str = "working", needs_auth: bool = False, key: str = "") -> ProviderEntry:
    return ProviderEntry(
        id=hash(name), name=name, adapter="openai", base_url="http://127.0.0.1:1/v1", api_key=key, status=status,
        needs_auth=needs_auth, priority=priority, timeout=5, url="", description="", supports_stream=True,
    )


def model(*routes: tuple[ProviderEntry, set[str]]) -> ModelEntry:
    return ModelEntry(
        name="m", owned_by="", aliases=(), created=0,
        routes=tuple(Route(provider=p, model="m", upstream_name="m", capabilities=frozenset(c)) for p, c in routes),
    )


CHAT = frozenset({"chat"})


def test_priority_orders_candidates_highest_first():
    plan = plan_for_model(
        model((provider("a", priority=1), {"chat"}), (provider("b", priority=9), {"chat"}), (provider("c"), {"chat"})),
        needed=CHAT, ignored=frozenset(),
    )
    assert [r.provider.name for r in plan.routes] == ["b", "a", "c"]


def test_ignored_not_working_and_keyless_are_skipped():
    plan = plan_for_model(
        model(
            (provider("ignored", status="ignored", priority=9), {"chat"}),
            (provider("down", status="not_working", priority=8), {"chat"}),
            (provider("keyless", needs_auth=True, priority=7), {"chat"}),
            (provider("keyed", needs_auth=True, key="k", priority=6), {"chat"}),
            (provider("config-ignored", priority=5), {"chat"}),
            (provider("ok"), {"chat"}),
        ),
        needed=CHAT, ignored=frozenset({"config-ignored"}),
    )
    assert [r.provider.name for r in plan.routes] == ["keyed", "ok"]


def test_no_usable_provider_explains_why():
    with pytest.raises(errors.ProviderNotWorking) as raised:
        plan_for_model(model((provider("x", status="ignored"), {"chat"})), needed=CHAT, ignored=frozenset())
    assert "x: ignored by the operator" in raised.value.message


def test_capabilities_filter_routes():
    m = model((provider("text", priority=5), {"chat"}), (provider("eyes"), {"chat", "vision"}))
    assert [r.provider.name for r in plan_for_model(m, needed=frozenset({"chat", "vision"}), ignored=()).routes] == ["eyes"]
    with pytest.raises(errors.UnsupportedCapability):
        plan_for_model(m, needed=frozenset({"chat", "tools"}), ignored=())


def test_required_capabilities_from_the_request():
    assert required_capabilities({"messages": [{"role": "user", "content": "x"}]}) == {"chat"}
    assert required_capabilities({"messages": [], "tools": [{"type": "function"}]}) == {"chat", "tools"}
    assert required_capabilities({"messages": [], "response_format": {"type": "json_object"}}) == {"chat", "json"}
    assert required_capabilities({"messages": [], "response_format": {"type": "text"}}) == {"chat"}
    vision = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]}
    assert required_capabilities(vision) == {"chat", "vision"}


def test_unavailable_reason():
    assert unavailable_reason(provider("a"), ()) is None
    assert "credential" in unavailable_reason(provider("a", needs_auth=True), ())
    assert "ignored" in unavailable_reason(provider("A"), {"a"})
