"""GET /v1/usage through real HTTP (a key's own usage, the master key's view of every key, bad
parameters), and the hourly roll-ups it reads: they match a recount of the raw rows, and pruning
raw rows keeps them."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.utils import timezone

from catalogue import services
from catalogue.models import UsageRecord, UsageRollup
from completions.usage import usage_recorder

MASTER = "master-usage-secret"
TODAY = dt.datetime.now(dt.UTC).date().isoformat()


@pytest.fixture
def keys(gateway, settings):
    """Two client keys and the master key; providers Alpha (two models) and Beta."""
    settings.G4F = {**settings.G4F, "API_KEY": MASTER}
    gateway.add_provider("Alpha", models=["alpha-1", "alpha-2"])
    gateway.add_provider("Beta", models=["beta-1"])
    _, team = services.api_key_create(name="team")
    _, app = services.api_key_create(name="app")
    return {"team": team, "app": app}


def chat(gateway, key: str, model: str, **kwargs) -> int:
    response = gateway.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Hello there"}], **kwargs},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.status_code


def usage(gateway, key: str, **params) -> dict:
    response = gateway.get("/v1/usage", params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_key_sees_its_own_usage_and_the_master_key_sees_every_key(gateway, keys):
    for _ in range(3):
        assert chat(gateway, keys["team"], "alpha-1") == 200
    assert chat(gateway, keys["team"], "beta-1", stream=True) == 200
    assert chat(gateway, keys["app"], "alpha-2") == 200
    usage_recorder.flush()

    own = usage(gateway, keys["team"], start=TODAY, end=TODAY, group_by="model")
    assert own["object"] == "list"
    by_model = {row["model"]: row for row in own["data"]}
    assert set(by_model) == {"alpha-1", "beta-1"}  # not the other key's alpha-2
    assert by_model["alpha-1"]["requests"] == 3 and by_model["alpha-1"]["prompt_tokens"] > 0
    assert by_model["alpha-1"]["date"] is None and by_model["alpha-1"]["provider"] is None
    assert all("api_key" not in row for row in own["data"])
    assert {"date", "model", "provider", "requests", "prompt_tokens", "completion_tokens", "cost"} <= set(
        own["data"][0]
    )

    daily = usage(gateway, keys["team"])["data"]  # defaults: the last 30 days, by day
    assert [(row["date"], row["requests"]) for row in daily] == [(TODAY, 4)]

    everyone = usage(gateway, MASTER, start=TODAY, end=TODAY, group_by="provider")["data"]
    assert {(row["api_key"], row["provider"], row["requests"]) for row in everyone} == {
        ("team", "Alpha", 3),
        ("team", "Beta", 1),
        ("app", "Alpha", 1),
    }
    only_app = usage(gateway, MASTER, group_by="day,model", api_key="app")["data"]
    assert [(row["api_key"], row["date"], row["model"], row["requests"]) for row in only_app] == [
        ("app", TODAY, "alpha-2", 1)
    ]


def test_another_keys_usage_is_refused_and_bad_parameters_get_400(gateway, keys):
    response = gateway.get("/v1/usage?api_key=app", headers={"Authorization": f"Bearer {keys['team']}"})
    assert response.status_code == 403 and response.json()["error"]["type"] == "permission_error"
    assert gateway.get("/v1/usage").status_code == 401
    bad = {
        "start=2026-13-01": "start",
        "end=yesterday": "end",
        "start=2026-02-02&end=2026-02-01": "start",
        "start=2020-01-01&end=2026-01-01": "start",
        "group_by=week": "group_by",
        "group_by=day,day": "group_by",
        "api_key=nobody": "api_key",
    }
    for query, param in bad.items():
        response = gateway.get(f"/v1/usage?{query}", headers={"Authorization": f"Bearer {MASTER}"})
        assert response.status_code == 400, query
        body = response.json()["error"]
        assert body["param"] == param and body["type"] == "invalid_request_error" and body["message"], query


def recount(queryset) -> dict:
    """The raw rows summed as the roll-ups sum them."""
    counted: dict = {}
    for row in queryset.values("created_at", "api_key_id", "model", "provider", "endpoint", "success",
                               "prompt_tokens", "completion_tokens", "latency_ms"):  # fmt: skip
        at = row["created_at"].astimezone(dt.UTC)
        key = (at.date(), at.hour, row["api_key_id"] or 0, row["model"], row["provider"], row["endpoint"])
        sums = counted.setdefault(key, [0, 0, 0, 0, 0.0])
        sums[0] += 1
        sums[1] += not row["success"]
        sums[2] += row["prompt_tokens"]
        sums[3] += row["completion_tokens"]
        sums[4] += row["latency_ms"]
    return counted


def rollups() -> dict:
    return {
        (r.date, r.hour, r.api_key_id, r.model, r.provider, r.endpoint): [
            r.requests,
            r.errors,
            r.prompt_tokens,
            r.completion_tokens,
            r.latency_ms_sum,
        ]
        for r in UsageRollup.objects.all()
    }


def test_rollups_match_a_recount_of_the_raw_rows(gateway, keys):
    gateway.add_provider("Gamma", models=["gpt-fault-500"])
    statuses = []
    for index in range(12):
        key = keys["team"] if index % 3 else keys["app"]
        statuses.append(chat(gateway, key, ["alpha-1", "beta-1", "gpt-fault-500", "no-such-model"][index % 4]))
        if index == 5:
            usage_recorder.flush()  # two flushes add to the same roll-up rows
    assert chat(gateway, MASTER, "alpha-2", stream=True) == 200
    usage_recorder.flush()
    assert {200, 404, 502} <= set(statuses)

    counted, summed = recount(UsageRecord.objects.all()), rollups()
    assert UsageRecord.objects.count() == 13
    assert summed.keys() == counted.keys()
    for key, sums in counted.items():
        assert summed[key][:4] == sums[:4], key
        assert summed[key][4] == pytest.approx(sums[4]), key
    buckets = UsageRollup.objects.aggregate(**{f"b{i}": Sum(f"latency_b{i}") for i in range(12)})
    assert sum(buckets.values()) == 13

    # `usage rebuild` recomputes the same figures from the raw rows.
    before = rollups()
    call_command("usage", "rebuild")
    after = rollups()
    assert after.keys() == before.keys()
    assert all(after[key][:4] == before[key][:4] for key in before)


def test_prune_deletes_old_raw_rows_and_keeps_their_rollups(gateway, keys, settings):
    settings.G4F = {**settings.G4F, "USAGE_RETENTION_DAYS": 30}
    old = timezone.now() - dt.timedelta(days=40)
    for tokens in (5, 7):
        usage_recorder.record(
            api_key_id=None,
            endpoint="chat",
            model="alpha-1",
            provider="Alpha",
            success=True,
            status_code=200,
            prompt_tokens=tokens,
            completion_tokens=1,
            latency_ms=30.0,
            created_at=old,
        )
    assert chat(gateway, keys["team"], "alpha-1") == 200
    usage_recorder.flush()
    assert UsageRecord.objects.count() == 3

    call_command("usage", "prune")
    assert list(UsageRecord.objects.values_list("api_key__name", flat=True)) == ["team"]
    day = old.astimezone(dt.UTC).date().isoformat()
    kept = usage(gateway, MASTER, start=day, end=day, group_by="model")["data"]
    assert [(row["model"], row["requests"], row["prompt_tokens"], row["api_key"]) for row in kept] == [
        ("alpha-1", 2, 12, None)
    ]
    assert UsageRollup.objects.aggregate(n=Sum("requests"))["n"] == 3
    assert UsageRollup.objects.values("date").annotate(n=Count("id")).count() == 2
