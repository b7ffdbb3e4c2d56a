"""`catalogue export` / `catalogue import` and provider status: only the operator's word travels."""

import io
import json
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from catalogue import services
from catalogue.models import Provider

USER = [{"role": "user", "content": "hi"}]


def _export() -> dict:
    out = io.StringIO()
    call_command("catalogue", "export", stdout=out)
    return json.loads(out.getvalue())


def _import(tmp_path, data: dict) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data))
    call_command("catalogue", "import", str(path), stdout=io.StringIO())


def _breaker_open(name: str) -> None:
    row = Provider.objects.get(name=name)
    services.provider_breaker_open(
        key=(row.id, row.created_at), reason="3 failures in a row", error="HTTP 500", until=timezone.now()
    )


def test_the_breakers_verdict_is_not_exported_as_the_operators(gateway, tmp_path):
    gateway.add_provider("flaky")
    gateway.add_provider("held", models=["held-model"], status="not_working")
    _breaker_open("flaky")
    exported = {p["name"]: p for p in _export()["providers"]}
    assert "status" not in exported["flaky"]  # health set it
    assert exported["held"]["status"] == "not_working"  # the operator set it
    Provider.objects.all().delete()
    _import(tmp_path, {"providers": list(exported.values())})
    listed = {p["provider"]: p for p in gateway.get("/v1/providers").json()["data"]}
    assert listed["flaky"]["status"] == "working" and listed["held"]["status"] == "not_working"
    reply = gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER})
    assert reply.status_code == 200 and reply.json()["provider"] == "flaky"


def test_an_imported_status_is_recorded_as_the_operators(gateway, tmp_path):
    gateway.add_provider("flaky")
    row = Provider.objects.get(name="flaky")
    services.provider_breaker_open(
        key=(row.id, row.created_at), reason="down", error="HTTP 500", until=timezone.now() + timedelta(minutes=5)
    )
    _import(tmp_path, {"providers": [{"name": "flaky", "status": "not_working"}]})
    row = Provider.objects.get(name="flaky")
    assert row.status_set_by == "operator" and row.cooldown_until is None
    # A provider check that succeeds no longer puts it back: it is the operator's word.
    assert services.provider_breaker_close(key=(row.id, row.created_at)) is False
    listed = {p["provider"]: p for p in gateway.get("/v1/providers").json()["data"]}
    assert listed["flaky"]["status"] == "not_working"
