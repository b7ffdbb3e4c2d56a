"""GET /metrics (who may read it, the metric names, what requests add), /healthz and /readyz,
through real HTTP against the live gateway."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from catalogue import services
from completions.usage import usage_recorder

MASTER = "master-metrics-secret"
TOKEN = "scrape-token"
NAMES = {
    "g4f_requests",
    "g4f_request_duration_seconds",
    "g4f_time_to_first_token_seconds",
    "g4f_tokens",
    "g4f_cost_usd",
    "g4f_provider_up",
    "g4f_rate_limited",
}


def scrape(gateway, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = gateway.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict, name: str, sample: str, **labels: str) -> float:
    family = families.get(name)
    if family is None:
        return 0.0
    return sum(
        s.value for s in family.samples if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_are_open_while_auth_is_off_and_need_the_master_key_or_token_when_on(gateway, settings):
    gateway.add_provider("Alpha")
    assert gateway.get("/metrics").status_code == 200

    settings.G4F = {**settings.G4F, "API_KEY": MASTER}
    _, client_key = services.api_key_create(name="client")
    assert gateway.get("/metrics").status_code == 401
    refused = gateway.get("/metrics", headers={"Authorization": f"Bearer {client_key}"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert MASTER not in refused.text and client_key not in refused.text
    scrape(gateway, MASTER)

    settings.G4F = {**settings.G4F, "METRICS_TOKEN": TOKEN}
    assert gateway.get("/metrics", headers={"Authorization": f"Bearer {MASTER}"}).status_code == 401
    scrape(gateway, TOKEN)

    settings.G4F = {**settings.G4F, "API_KEY": "", "METRICS_TOKEN": ""}  # client keys only: nobody may read
    closed = gateway.get("/metrics", headers={"Authorization": f"Bearer {client_key}"})
    assert closed.status_code == 403 and "G4F_METRICS_TOKEN" in closed.json()["error"]["message"]


def test_requests_streams_tokens_and_provider_state_are_counted(gateway):
    gateway.add_provider("Alpha", api_key="sk-upstream-secret-123")
    gateway.add_provider("Broken", models=["broken-model"], status="not_working")
    before = scrape(gateway)
    client = gateway.openai()
    for _ in range(3):
        client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])
    stream = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    gateway.post("/v1/chat/completions", json={"model": "made-up-model-123", "messages": []})
    usage_recorder.flush()

    response = gateway.get("/metrics")
    after = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert NAMES <= set(after), NAMES - set(after)
    assert "sk-upstream-secret-123" not in response.text and "made-up-model-123" not in response.text

    def delta(name: str, sample: str, **labels: str) -> float:
        return value(after, name, sample, **labels) - value(before, name, sample, **labels)

    ok = {"endpoint": "chat", "provider": "Alpha", "model": "fake-model", "status": "200"}
    assert delta("g4f_requests", "g4f_requests_total", **ok) == 4
    assert delta("g4f_request_duration_seconds", "g4f_request_duration_seconds_count", provider="Alpha") == 4
    assert delta("g4f_time_to_first_token_seconds", "g4f_time_to_first_token_seconds_count", provider="Alpha") == 1
    assert delta("g4f_tokens", "g4f_tokens_total", direction="prompt", provider="Alpha") > 0
    assert delta("g4f_tokens", "g4f_tokens_total", direction="completion", provider="Alpha") > 0
    assert value(after, "g4f_provider_up", "g4f_provider_up", provider="Alpha") == 1
    assert value(after, "g4f_provider_up", "g4f_provider_up", provider="Broken") == 0


def test_healthz_and_readyz_need_no_key_and_name_their_checks(gateway, settings):
    settings.G4F = {**settings.G4F, "API_KEY": MASTER}
    assert gateway.get("/v1/models").status_code == 401  # auth is on
    assert gateway.get("/healthz").json() == {"status": "ok"}

    empty = gateway.get("/readyz")  # no provider yet: the catalogue is not loaded
    assert empty.status_code == 503
    assert empty.json()["checks"]["catalogue"] == {"status": "failed", "reason": "no providers"}
    assert empty.json()["error"]["code"] == "not_ready"

    gateway.add_provider("Alpha", api_key="sk-upstream-secret-123")
    ready = gateway.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "degraded": False,
        "checks": {
            "database": {"status": "ok"},
            "cache": {"status": "ok"},
            "catalogue": {"status": "ok", "providers": 1},
        },
    }
    assert MASTER not in ready.text and "sk-upstream" not in ready.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_monitoring_paths_refuse_other_methods(gateway, path):
    response = gateway.post(path, json={})
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
