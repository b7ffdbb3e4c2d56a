"""Model discovery: `manage.py catalogue refresh` and the admin action ask providers (the fake upstream,
speaking each protocol) for their models and add the missing ones without touching operator fields."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalogue.cache import catalogue_invalidate
from catalogue.models import Model, Provider, ProviderModel
from completions.upstream.discovery import discovered_capabilities, providers_refresh

ROOT = Path(__file__).resolve().parents[2]


def refresh(*names: str) -> tuple[str, str]:
    """Run `catalogue refresh` in this process (the live gateway shares its database)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("catalogue", "refresh", *names, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_local_ollama_models_appear_in_v1_models_with_no_manual_entry(gateway):
    gateway.add_provider("Ollama", models=[], adapter="openai", description="Local models served by Ollama.")
    gateway.fake.set_option("Ollama", models=("llama3.2:latest", "qwen2.5:7b"))
    assert "llama3.2:latest" not in {m["id"] for m in gateway.get("/v1/models").json()["data"]}

    out, _ = refresh("Ollama")
    assert "Ollama: 2 model(s) added (llama3.2:latest, qwen2.5:7b)" in out
    assert gateway.fake.requests_for("Ollama")[-1].path == "/Ollama/v1/models"

    listed = {m["id"]: m for m in gateway.get("/v1/models").json()["data"]}
    assert listed["llama3.2:latest"]["providers"] == ["Ollama"]
    assert listed["qwen2.5:7b"]["owned_by"] == "Ollama"  # the fake says so
    mapping = ProviderModel.objects.get(provider__name="Ollama", model__name="llama3.2:latest")
    assert mapping.discovered and mapping.capabilities == ["chat"] and mapping.upstream_name == ""
    answer = gateway.openai().chat.completions.create(
        model="llama3.2:latest", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "Hello from Ollama: hi"
    assert gateway.fake.requests_for("Ollama")[-1].json["model"] == "llama3.2:latest"


def test_refresh_keeps_operator_fields_and_is_idempotent(gateway):
    gateway.add_provider("alpha", models=["fake-model"], capabilities=("chat", "tools"))
    gateway.add_provider("beta", models=["fake-vision"], capabilities=("chat", "vision"))
    Model.objects.filter(name="fake-vision").update(aliases=["fv"], owned_by="acme")
    # The operator serves "pretty-name" from alpha's upstream model "fake-image".
    gateway.add_provider("alpha", models=["pretty-name"], capabilities=("image",))
    ProviderModel.objects.filter(model__name="pretty-name").update(upstream_name="fake-image")
    catalogue_invalidate()

    [outcome] = providers_refresh(names=["ALPHA"])
    assert outcome.result.mappings_created == ["fake-vision"] and outcome.result.known == 2
    assert outcome.result.models_created == []
    kept = ProviderModel.objects.get(provider__name="alpha", model__name="fake-model")
    assert kept.capabilities == ["chat", "tools"] and not kept.discovered
    renamed = ProviderModel.objects.get(provider__name="alpha", model__name="pretty-name")
    assert renamed.upstream_name == "fake-image" and renamed.capabilities == ["image"]
    assert not Model.objects.filter(name="fake-image").exists()
    vision = Model.objects.get(name="fake-vision")
    assert vision.aliases == ["fv"] and vision.owned_by == "acme"
    added = ProviderModel.objects.get(provider__name="alpha", model=vision)
    assert added.discovered and added.capabilities == ["chat"]
    beta = ProviderModel.objects.get(provider__name="beta", model=vision)
    assert beta.capabilities == ["chat", "vision"] and not beta.discovered

    [again] = providers_refresh(names=["alpha"])
    assert again.result.mappings_created == [] and again.result.known == 3
    # Nothing discovery does deletes: a model the upstream stopped listing stays.
    gateway.fake.set_option("alpha", models=())
    providers_refresh(names=["alpha"])
    assert ProviderModel.objects.filter(provider__name="alpha").count() == 3
    listed = {m["id"]: m for m in gateway.get("/v1/models").json()["data"]}
    assert sorted(listed["fake-vision"]["providers"]) == ["alpha", "beta"]


def test_anthropic_and_gemini_model_lists(gateway):
    gateway.add_provider("claude", models=[], adapter="anthropic", api_key="sk-ant-test")
    gateway.add_provider("gemini", models=[], adapter="gemini", api_key="gm-test")
    gateway.fake.set_option("claude", models=("claude-sonnet-4-20250514", "claude-3-5-haiku-latest"))
    gateway.fake.set_option("gemini", models=("gemini-2.5-flash", "gemini-2.5-pro"))
    out, _ = refresh("claude", "gemini")
    assert "claude: 2 model(s) added" in out and "gemini: 2 model(s) added" in out
    sent = gateway.fake.requests_for("claude")[-1]
    assert sent.path == "/claude/anthropic/v1/models" and sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"]
    sent = gateway.fake.requests_for("gemini")[-1]
    assert sent.path == "/gemini/v1beta/models" and sent.headers["x-goog-api-key"] == "gm-test"
    gemini_models = set(ProviderModel.objects.filter(provider__name="gemini").values_list("model__name", flat=True))
    # The "models/" prefix is dropped and the embedding-only model is not a chat model.
    assert gemini_models == {"gemini-2.5-flash", "gemini-2.5-pro"}
    listed = {m["id"]: m for m in gateway.get("/v1/models").json()["data"]}
    assert listed["claude-3-5-haiku-latest"]["providers"] == ["claude"]
    answer = gateway.post(
        "/v1/chat/completions", {"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert answer.json()["choices"][0]["message"]["content"] == "Hello from gemini: hi"


def test_failures_are_reported_per_provider_and_skips_say_why(gateway):
    gateway.add_provider("good", models=[])
    gateway.add_provider("broken", models=[])
    gateway.add_provider("locked", models=[], needs_auth=True, api_key="")
    gateway.add_provider("away", models=[], status="ignored")
    gateway.fake.set_fault("broken", "500")
    out, err = refresh()
    assert "good: 3 model(s) added" in out
    assert "locked: skipped (no credential configured)" in out
    assert "broken: failed: HTTP 500" in err and "Traceback" not in err
    assert "away" not in out + err  # ignored providers are asked only when named
    assert gateway.fake.requests_for("locked") == [] and gateway.fake.requests_for("away") == []

    with pytest.raises(CommandError, match="No provider answered"):
        refresh("broken")
    with pytest.raises(CommandError, match="No provider named 'nobody'"):
        refresh("good", "nobody")


def test_a_provider_that_never_answers_times_out(gateway, settings):
    settings.G4F = {**getattr(settings, "G4F", {}), "DISCOVERY_TIMEOUT": 0.5}
    gateway.add_provider("stuck", models=[])
    gateway.fake.set_fault("stuck", "hang")
    [outcome] = providers_refresh(names=["stuck"])
    assert outcome.failed and "0.5 seconds" in outcome.error


def test_command_exit_status_in_a_subprocess(fake, tmp_path):
    """As an operator runs it: no traceback, exit 0 unless every provider failed."""
    env = {**os.environ, "G4F_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "g4fsite.settings"}

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    assert manage("migrate", "--noinput").returncode == 0
    catalogue = {
        "providers": [
            {"name": "up", "base_url": fake.provider_url("up")},
            {"name": "down", "base_url": fake.provider_url("down")},
        ]
    }
    (tmp_path / "catalogue.json").write_text(json.dumps(catalogue))
    assert manage("catalogue", "import", str(tmp_path / "catalogue.json")).returncode == 0
    fake.set_fault("down", "503")
    partly = manage("catalogue", "refresh")
    assert partly.returncode == 0, partly.stderr
    assert "up: 3 model(s) added" in partly.stdout and "down: failed" in partly.stderr
    failed = manage("catalogue", "refresh", "down")
    assert failed.returncode == 1 and "No provider answered" in failed.stderr and "Traceback" not in failed.stderr


def test_admin_action_refreshes_the_selected_providers(gateway, admin_session):
    gateway.add_provider("Ollama", models=[])
    gateway.add_provider("Broken", models=[])
    gateway.fake.set_option("Ollama", models=("phi4:latest",))
    gateway.fake.set_fault("Broken", "500")
    ids = [str(pk) for pk in Provider.objects.filter(name__in=["Ollama", "Broken"]).values_list("id", flat=True)]
    url = f"{gateway.url}/admin/catalogue/provider/"
    token = admin_session.cookies["csrftoken"]
    page = admin_session.post(
        url,
        data={"action": "refresh_models", "_selected_action": ids, "csrfmiddlewaretoken": token},
        headers={"referer": url},
        timeout=30,
    )
    assert page.status_code == 200
    assert "Ollama: 1 model(s) added (phi4:latest)" in page.text
    assert "Broken: failed: HTTP 500" in page.text
    assert "phi4:latest" in {m["id"] for m in gateway.get("/v1/models").json()["data"]}


def test_capabilities_come_only_from_what_the_upstream_states():
    assert discovered_capabilities({"id": "llama3.2:latest", "owned_by": "library"}) == ["chat"]
    openrouter = {
        "id": "openai/gpt-4o",
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
        "supported_parameters": ["tools", "response_format", "temperature"],
    }
    assert discovered_capabilities(openrouter) == ["chat", "vision", "tools", "json"]
    pollinations = {"name": "openai", "id": "openai", "vision": True, "tools": True, "output_modalities": ["text"]}
    assert discovered_capabilities(pollinations) == ["chat", "vision", "tools"]
    painter = {"id": "flux", "input_modalities": ["text"], "output_modalities": ["image"]}
    assert discovered_capabilities(painter) == ["image"]
