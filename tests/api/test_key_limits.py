"""Per-key limits through real HTTP: rate headers and 429s, tokens per minute, requests in flight,
budgets with imported prices, allowed models and providers, expiry; cost on every usage row."""

import threading
from datetime import timedelta

import openai
import pytest
import requests
from django.utils import timezone

from catalogue import services
from catalogue.models import UsageRecord
from tests.helpers import wait_until

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def limits_file(settings, tmp_path):
    """A fresh limit store per test (key ids restart with each test database)."""
    settings.G4F = {**settings.G4F, "LIMITS_FILE": str(tmp_path / "key-limits.bin"), "LIMITS_STORE": "file"}


def bearer(plain: str) -> dict[str, str]:
    return {"authorization": f"Bearer {plain}"}


def ask(client: openai.OpenAI, model: str = "fake-model"):
    return client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hi"}])


def test_rpm_sets_openai_headers_on_every_answer_and_429s_past_the_limit(gateway):
    gateway.add_provider("alpha")
    _, plain = services.api_key_create(name="rpm", rpm=3)
    client = gateway.openai(api_key=plain)
    remaining = []
    for _ in range(3):
        raw = ask(client)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        assert "x-ratelimit-limit-tokens" not in raw.headers  # no --tpm
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as raised:
        ask(client)
    assert raised.value.body["code"] == "rate_limit_exceeded"
    assert 1 <= int(raised.value.response.headers["retry-after"]) <= 60
    assert raised.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(gateway.fake.requests_for("alpha")) == 3
    # Other endpoints of the same key carry the headers too (here an error answer).
    refused = gateway.post("/v1/chat/completions", {"model": "fake-model"}, headers=bearer(plain))
    assert refused.status_code == 429 and refused.headers["x-ratelimit-limit-requests"] == "3"


def test_keys_without_limits_and_the_master_key_get_no_rate_headers(gateway, settings):
    gateway.add_provider("alpha")
    _, plain = services.api_key_create(name="free")
    raw = ask(gateway.openai(api_key=plain))
    assert raw.parse().choices[0].message.content
    assert not [name for name in raw.headers if name.startswith("x-ratelimit")]


def test_tpm_counts_the_usage_and_refuses_past_it(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", content=" ".join(["word"] * 120))  # 120 completion tokens
    _, plain = services.api_key_create(name="tpm", tpm=100)
    client = gateway.openai(api_key=plain)
    first = ask(client)
    assert first.headers["x-ratelimit-limit-tokens"] == "100"
    assert 0 < int(first.headers["x-ratelimit-remaining-tokens"]) < 100  # the request's estimate
    with pytest.raises(openai.RateLimitError) as raised:
        ask(client)  # the first answer's 121 tokens were counted at its end
    assert raised.value.body["code"] == "rate_limit_exceeded"
    assert "tokens per minute" in raised.value.body["message"]
    assert raised.value.response.headers["x-ratelimit-remaining-tokens"] == "0"
    assert raised.value.response.headers["retry-after"]


def test_max_concurrent_refuses_at_once_and_frees_the_slot(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", delay=3.0)
    _, plain = services.api_key_create(name="conc", max_concurrent=2)
    results: list[int] = []

    def slow() -> None:
        results.append(gateway.post("/v1/chat/completions", CHAT, headers=bearer(plain)).status_code)

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: len(gateway.fake.requests_for("alpha")) == 2, timeout=10)
    with pytest.raises(openai.RateLimitError) as raised:
        ask(gateway.openai(api_key=plain))
    assert not results  # refused while both were still in flight: not queued behind them
    assert raised.value.body["code"] == "rate_limit_exceeded"
    for thread in threads:
        thread.join(20)
    assert results == [200, 200]
    gateway.fake.set_option("alpha", delay=0.0)
    assert ask(gateway.openai(api_key=plain)).parse().choices


def test_a_stream_holds_its_slot_until_the_client_leaves(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", content=" ".join(["word"] * 50), chunks=50, chunk_delay=0.2)  # ~10 s
    _, plain = services.api_key_create(name="stream", max_concurrent=1)
    body = {**CHAT, "stream": True}
    with requests.post(gateway.url + "/v1/chat/completions", json=body, headers=bearer(plain), stream=True) as first:
        assert first.status_code == 200
        lines = first.iter_lines()  # kept: a dropped generator closes the connection
        assert next(lines).startswith(b"data: ")  # the stream is running
        second = gateway.post("/v1/chat/completions", CHAT, headers=bearer(plain))
        assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limit_exceeded"
    gateway.fake.set_option("alpha", chunks=2, chunk_delay=0.0)

    def admitted() -> bool:
        return gateway.post("/v1/chat/completions", CHAT, headers=bearer(plain)).status_code == 200

    assert wait_until(admitted, timeout=10, interval=0.2)  # the client left: its slot came back


def test_budget_with_imported_prices_refuses_once_spent(gateway):
    gateway.fake.set_option("alpha", content="one two three four")  # 1 prompt + 4 completion tokens
    catalogue = {
        "_prices_as_of": "a note the importer ignores",
        "models": [{"name": "fake-model", "price": {"input": 1_000_000, "output": 1_000_000}}],
        "providers": [
            {
                "name": "alpha",
                "base_url": gateway.fake.provider_url("alpha"),
                "models": [{"name": "fake-model", "price": {"input": 100_000, "output": 100_000}}],
            }
        ],
    }
    services.catalogue_import(data=catalogue)
    exported = services.catalogue_export()
    assert exported["providers"][0]["models"][0]["price"] == {"input": 100_000, "output": 100_000}
    assert exported["models"][0]["price"] == {"input": 1_000_000, "output": 1_000_000}
    _, plain = services.api_key_create(name="budget", budget=0.9, budget_period="day")
    client = gateway.openai(api_key=plain)
    assert ask(client).parse().choices  # spend 0.5 (the mapping's price wins over the model's)
    assert ask(client).parse().choices  # 0.5 < 0.9: goes, and crosses the budget
    with pytest.raises(openai.RateLimitError) as raised:
        ask(client)
    assert raised.value.body["code"] == "insufficient_quota"
    assert "budget" in raised.value.body["message"]
    assert wait_until(lambda: UsageRecord.objects.filter(api_key__name="budget").count() == 2, timeout=10)
    costs = list(UsageRecord.objects.filter(api_key__name="budget").values_list("cost", flat=True))
    assert costs == [pytest.approx(0.5), pytest.approx(0.5)]  # the refused request never reached parsing
    # Raising the budget lets the key go on.
    services.api_key_update(name="budget", budget=5)
    assert ask(client).parse().choices


def test_allowed_models_and_providers(gateway):
    gateway.add_provider("alpha", models=["fake-model", "other-model"])
    gateway.add_provider("beta", models=["fake-model"])
    services.catalogue_import(data={"models": [{"name": "fake-model", "aliases": ["fm"]}]})
    _, plain = services.api_key_create(name="narrow", allowed_models=["fm"], allowed_providers=["beta"])
    client = gateway.openai(api_key=plain)
    answer = ask(client).parse()
    assert answer.model_dump()["provider"] == "beta"  # alpha also serves it, but the key may not use alpha
    with pytest.raises(openai.PermissionDeniedError) as raised:
        ask(client, model="other-model")
    assert raised.value.body["code"] == "model_not_allowed"
    pinned = gateway.post("/v1/chat/completions", {**CHAT, "provider": "alpha"}, headers=bearer(plain))
    assert pinned.status_code == 403 and pinned.json()["error"]["code"] == "model_not_allowed"
    models = [m["id"] for m in gateway.get("/v1/models", headers=bearer(plain)).json()["data"]]
    assert models == ["fake-model", "beta"]
    providers = gateway.get("/v1/providers", headers=bearer(plain)).json()["data"]
    assert [(p["id"], p["models"]) for p in providers] == [("beta", ["fake-model"])]
    assert gateway.get("/v1/models/other-model", headers=bearer(plain)).status_code == 404
    assert gateway.get("/v1/providers/alpha", headers=bearer(plain)).status_code == 404
    # A key without restrictions sees everything.
    _, wide = services.api_key_create(name="wide")
    assert "other-model" in [m["id"] for m in gateway.get("/v1/models", headers=bearer(wide)).json()["data"]]


def test_an_expired_key_is_refused_with_a_message_saying_so(gateway):
    gateway.add_provider("alpha")
    _, plain = services.api_key_create(name="old", expires_at=timezone.now() + timedelta(hours=1))
    assert ask(gateway.openai(api_key=plain)).parse().choices
    services.api_key_update(name="old", expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(openai.AuthenticationError) as raised:
        ask(gateway.openai(api_key=plain))
    assert raised.value.body["code"] == "invalid_api_key"
    assert "expired" in raised.value.body["message"]
    assert gateway.get("/v1/models", headers=bearer(plain)).status_code == 401
