"""Routing rules over plain catalogue data and health statistics (no database, no I/O, no clock)."""

import random
from dataclasses import replace

import pytest

from catalogue.snapshot import ModelEntry, ProviderEntry, Route
from completions import errors
from completions.routing.health import ProviderHealth
from completions.routing.plan import (
    health_band,
    order_routes,
    plan_for_model,
    required_capabilities,
    skip_reason,
    unavailable_reason,
)
from tests.helpers import provider_entry


def provider(
    name: str, *, priority: int = 0, status: str = "working", needs_auth: bool = False, key: str = ""
) -> ProviderEntry:
    return provider_entry(name, id=hash(name), api_key=key, status=status, needs_auth=needs_auth, priority=priority)


def model(*routes: tuple[ProviderEntry, set[str]]) -> ModelEntry:
    return ModelEntry(
        name="m",
        owned_by="",
        aliases=(),
        created=0,
        routes=tuple(Route(provider=p, model="m", upstream_name="m", capabilities=frozenset(c)) for p, c in routes),
    )


CHAT = frozenset({"chat"})


def test_priority_orders_candidates_highest_first():
    plan = plan_for_model(
        model((provider("a", priority=1), {"chat"}), (provider("b", priority=9), {"chat"}), (provider("c"), {"chat"})),
        needed=CHAT,
        ignored=frozenset(),
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
        needed=CHAT,
        ignored=frozenset({"config-ignored"}),
    )
    assert [r.provider.name for r in plan.routes] == ["keyed", "ok"]


def test_no_usable_provider_explains_why():
    with pytest.raises(errors.ProviderNotWorking) as raised:
        plan_for_model(model((provider("x", status="ignored"), {"chat"})), needed=CHAT, ignored=frozenset())
    assert "x: ignored by the operator" in raised.value.message


def test_capabilities_filter_routes():
    m = model((provider("text", priority=5), {"chat"}), (provider("eyes"), {"chat", "vision"}))
    assert [r.provider.name for r in plan_for_model(m, needed=frozenset({"chat", "vision"}), ignored=()).routes] == [
        "eyes"
    ]
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


# --- health: cool-downs, half-open, ordering (plain data, `now` and `rng` passed in) -------------

NOW = 1_000_000.0


def stats(rate: float = 1.0, latency: float | None = None, **fields) -> ProviderHealth:
    return ProviderHealth(success_rate=rate, latency_ms=latency, expires_at=NOW + 300, **fields)


def names(plan_or_routes) -> list[str]:
    routes = getattr(plan_or_routes, "routes", plan_or_routes)
    return [r.provider.name for r in routes]


def test_cool_downs_in_the_row_skip_providers_until_they_end():
    limited = replace(provider("limited", priority=9), cooldown_until=NOW + 5)
    opened = replace(
        provider("opened", priority=8, status="not_working"), status_set_by="health", cooldown_until=NOW + 5
    )
    m = model((limited, {"chat"}), (opened, {"chat"}), (provider("ok"), {"chat"}))
    assert names(plan_for_model(m, needed=CHAT, ignored=(), now=NOW)) == ["ok"]
    # Past the cool-downs: the rate-limited provider is back; the opened one is half-open and probed first.
    later = plan_for_model(m, needed=CHAT, ignored=(), now=NOW + 6)
    assert names(later) == ["limited", "opened", "ok"]
    assert skip_reason(limited, (), now=NOW).rate_limited
    assert skip_reason(limited, (), now=NOW).retry_after == pytest.approx(5)


def test_half_open_goes_first_within_its_priority():
    half_open = replace(provider("probe-me", status="not_working"), status_set_by="health", cooldown_until=NOW - 1)
    m = model((provider("a"), {"chat"}), (half_open, {"chat"}), (provider("top", priority=1), {"chat"}))
    assert names(plan_for_model(m, needed=CHAT, ignored=(), now=NOW)) == ["top", "probe-me", "a"]
    # Without a clock (the catalogue endpoints), a provider health marked not working stays skipped.
    assert "not working" in unavailable_reason(half_open, ())


def test_an_operators_not_working_is_skipped_whatever_the_cool_down():
    parked = replace(provider("parked", status="not_working"), status_set_by="operator", cooldown_until=NOW - 100)
    assert skip_reason(parked, (), now=NOW).reason == "marked not working"


def test_all_rate_limited_is_a_429_with_the_shortest_wait():
    m = model(
        (replace(provider("a"), cooldown_until=NOW + 7), {"chat"}),
        (replace(provider("b"), cooldown_until=NOW + 3), {"chat"}),
    )
    with pytest.raises(errors.RateLimited) as raised:
        plan_for_model(m, needed=CHAT, ignored=(), now=NOW)
    assert raised.value.retry_after == pytest.approx(3) and "a: rate limited" in raised.value.message


def test_a_local_cool_down_counts_until_the_row_is_newer():
    p = replace(provider("p"), updated_at=NOW - 10)
    local = {p.health_key: stats(cooldown_until=NOW + 5, cooldown_set_at=NOW - 1, cooldown_reason="breaker")}
    assert "not working (breaker)" in skip_reason(p, (), health=local, now=NOW).reason
    # An operator's change (or the breaker's own write) after the local decision wins.
    assert skip_reason(replace(p, updated_at=NOW), (), health=local, now=NOW) is None


def test_health_orders_within_a_priority_never_across():
    a, b, c = provider("a"), provider("b"), provider("c", priority=1)
    health = {a.health_key: stats(rate=0.5), b.health_key: stats(rate=0.95), c.health_key: stats(rate=0.1)}
    m = model((a, {"chat"}), (b, {"chat"}), (c, {"chat"}))
    assert names(plan_for_model(m, needed=CHAT, ignored=(), health=health, now=NOW)) == ["c", "b", "a"]
    # Expired statistics say nothing: back to equals.
    stale = {a.health_key: replace(stats(rate=0.0), expires_at=NOW - 1)}
    assert health_band(a, stale, NOW) == 0


def test_equal_candidates_share_load_weighted_by_inverse_latency():
    fast, slow = provider("fast"), provider("slow")
    health = {fast.health_key: stats(latency=100.0), slow.health_key: stats(latency=300.0)}
    routes = model((fast, {"chat"}), (slow, {"chat"})).routes
    rng = random.Random(7)
    firsts = [names(order_routes(routes, health=health, now=NOW, rng=rng))[0] for _ in range(2000)]
    share = firsts.count("fast") / len(firsts)
    assert 0.70 < share < 0.80  # weights 1/100 : 1/300, so fast goes first 3 times in 4
    # Without statistics, an even split.
    plain = [names(order_routes(routes, rng=rng))[0] for _ in range(2000)]
    assert 0.45 < plain.count("fast") / len(plain) < 0.55
