"""Configuration: `AppConfig.set_config` + `run_api` from Python, environment variables, precedence."""

import json
import subprocess
import sys

import pytest
from django.test import override_settings

from g4fsite.api import AppConfig
from g4fsite.conf import GatewaySettings
from tests.cli.servers import ROOT, clean_env

SCRIPT = """
import sys
from g4fsite.api import AppConfig, run_api

AppConfig.set_config(
    g4f_api_key="py-key", model="other-model", ignored_providers=["Beta"], gui=True, timeout=30, demo=True
)
run_api(host="127.0.0.1", port=int(sys.argv[sys.argv.index("--port") + 1]), debug=False)
"""


@pytest.mark.slow
def test_set_config_and_run_api_from_a_script(start_server, tmp_path, fake):
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT)
    server = start_server(
        [sys.executable, str(script)], providers={"Alpha": ["fake-model", "other-model"], "Beta": ["fake-model"]}
    )
    assert server.get("/v1/models").status_code == 401
    headers = {"Authorization": "Bearer py-key"}
    assert [p["provider"] for p in server.get("/v1/providers", headers=headers).json()["data"]] == ["Alpha"]
    reply = server.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "other-model"
    assert fake.requests_for("Alpha")[-1].json["model"] == "other-model"
    page = server.get("/chat/")
    assert page.status_code == 200 and ">demo</span>" in page.text  # demo=True marks the GUI


def settings_in_subprocess(tmp_path, **env: str) -> dict:
    """`settings.G4F` as a fresh process with this environment sees it."""
    code = "import django, json; django.setup(); from django.conf import settings; print(json.dumps(settings.G4F))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_environment_variables_reach_the_gateway_settings(tmp_path):
    g4f = settings_in_subprocess(
        tmp_path,
        G4F_API_KEY="k",
        G4F_PROXY="http://127.0.0.1:9",
        G4F_TIMEOUT="12.5",
        G4F_PROVIDER="Groq",
        G4F_MODEL="m",
        G4F_IGNORED_PROVIDERS="A, B C",
        G4F_GUI="1",
        G4F_DEBUG="true",
        G4F_ALLOW_REQUEST_PROXY="yes",
        G4F_PROXY_ALLOWLIST="http://127.0.0.1:3128 127.0.0.1:8080",
        G4F_CORS_ORIGINS="https://a.example, https://b.example",
    )
    assert g4f["API_KEY"] == "k" and g4f["PROXY"] == "http://127.0.0.1:9" and g4f["TIMEOUT"] == 12.5
    assert g4f["DEFAULT_PROVIDER"] == "Groq" and g4f["DEFAULT_MODEL"] == "m"
    assert g4f["IGNORED_PROVIDERS"] == ["A", "B", "C"]
    assert g4f["GUI"] is True and g4f["DEBUG"] is True and g4f["ALLOW_REQUEST_PROXY"] is True
    assert g4f["PROXY_ALLOWLIST"] == ["http://127.0.0.1:3128", "127.0.0.1:8080"]
    assert g4f["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]
    defaults = settings_in_subprocess(tmp_path)
    assert defaults["GUI"] is False and defaults["ALLOW_REQUEST_PROXY"] is False and defaults["PROXY_ALLOWLIST"] == []
    assert defaults["CORS_ORIGINS"] == []


def test_g4f_debug_does_not_turn_on_djangos_debug(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(tmp_path, G4F_DEBUG="1"), capture_output=True, text=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_flag_beats_environment_beats_default():
    settings = GatewaySettings()
    with override_settings(G4F={"DEFAULT_MODEL": "from-env"}):
        assert settings.DEFAULT_PROVIDER == ""  # default
        assert settings.DEFAULT_MODEL == "from-env"  # environment
        settings.override(DEFAULT_MODEL="from-flag")
        assert settings.DEFAULT_MODEL == "from-flag"  # flag


@pytest.fixture
def clean_app_config():
    saved = {name: getattr(AppConfig, name) for name in AppConfig.__annotations__}
    yield AppConfig
    AppConfig.set_config(**saved)


def test_app_config_maps_to_settings_and_environment(clean_app_config):
    clean_app_config.set_config(g4f_api_key="k", timeout=5, ignored_providers=["A", "B"], gui=True, model=None)
    assert clean_app_config.overrides() == {
        "API_KEY": "k",
        "TIMEOUT": 5.0,
        "IGNORED_PROVIDERS": ["A", "B"],
        "GUI": True,
    }
    assert clean_app_config.environment() == {
        "G4F_API_KEY": "k",
        "G4F_TIMEOUT": "5.0",
        "G4F_IGNORED_PROVIDERS": "A B",
        "G4F_GUI": "1",
    }
    with pytest.raises(TypeError, match="no setting 'colour'"):
        clean_app_config.set_config(colour="blue")


def test_cors_allowed_origins_apply_to_django_and_streaming_endpoints(gateway, settings):
    settings.G4F = {**settings.G4F, "CORS_ORIGINS": ["https://app.example"]}
    gateway.add_provider("Alpha")
    allowed, other = {"Origin": "https://app.example"}, {"Origin": "https://evil.example"}
    assert gateway.get("/v1/models", headers=allowed).headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in gateway.get("/v1/models", headers=other).headers
    chat = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    streamed = gateway.post("/v1/chat/completions", chat, headers=allowed)
    assert streamed.status_code == 200
    assert streamed.headers["access-control-allow-origin"] == "https://app.example"
    refused = gateway.post("/v1/chat/completions", chat, headers=other)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
