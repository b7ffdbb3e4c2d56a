"""Operator commands, run as an operator would: `python manage.py ...` in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def manage(tmp_path):
    """Run manage.py against a fresh data directory (its own SQLite database)."""
    env = {**os.environ, "G4F_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "g4fsite.settings"}
    env.pop("G4F_API_KEY", None)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    run("migrate", "--noinput")
    return run


def test_apikey_create_list_revoke(manage):
    created = manage("apikey", "create", "ci-bot")
    plain = created.stdout.strip().splitlines()[-1]
    assert plain.startswith("sk-g4f-") and len(plain) > 40
    listing = manage("apikey", "list").stdout
    assert "ci-bot" in listing and plain not in listing and plain[:13] in listing and "active" in listing
    assert "Revoked" in manage("apikey", "revoke", "ci-bot").stdout
    assert "revoked" in manage("apikey", "list").stdout
    duplicate = manage("apikey", "create", "ci-bot", check=False)
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr
    missing = manage("apikey", "revoke", "nobody", check=False)
    assert missing.returncode != 0 and "No key named" in missing.stderr


def test_catalogue_import_export_round_trip(manage, tmp_path):
    catalogue = {
        "models": [{"name": "m1", "owned_by": "acme", "aliases": ["m-one"]}],
        "providers": [
            {
                "name": "Acme",
                "adapter": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key": "sk-secret-acme",
                "status": "working",
                "priority": 3,
                "url": "https://acme.example",
                "description": "Acme AI",
                "models": [{"name": "m1", "upstream": "acme-m1", "capabilities": ["chat", "tools"]}],
            },
            {
                "name": "Other",
                "base_url": "http://127.0.0.1:9/v2",
                "api_key_env": "OTHER_API_KEY",
                "models": [{"name": "m2"}],
            },
        ],
    }
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(catalogue))
    out = manage("catalogue", "import", str(path)).stdout
    assert "2 created" in out
    exported = json.loads(manage("catalogue", "export").stdout)
    assert "sk-secret-acme" not in json.dumps(exported)
    acme = next(p for p in exported["providers"] if p["name"] == "Acme")
    assert acme["priority"] == 3 and acme["models"] == [
        {"name": "m1", "upstream": "acme-m1", "capabilities": ["chat", "tools"]}
    ]
    assert next(m for m in exported["models"] if m["name"] == "m1")["aliases"] == ["m-one"]
    other = next(p for p in exported["providers"] if p["name"] == "Other")
    assert other["api_key_env"] == "OTHER_API_KEY" and other["models"][0]["capabilities"] == ["chat"]
    # Re-importing the export (no secrets in it) keeps the stored credential.
    path.write_text(json.dumps(exported))
    assert "2 updated" in manage("catalogue", "import", str(path)).stdout
    check = manage(
        "shell", "-c", "from catalogue.models import Provider; print(Provider.objects.get(name='Acme').api_key)"
    )
    assert check.stdout.strip().splitlines()[-1] == "sk-secret-acme"


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "not valid JSON"),
        ('{"providers": [{"name": "X"}]}', "base_url"),
        ('{"providers": [{"name": "X", "base_url": "http://h/v1", "adapter": "carrier-pigeon"}]}', "Unknown adapter"),
        (
            '{"providers": [{"name": "X", "base_url": "http://h/v1", '
            '"models": [{"name": "m", "capabilities": ["telepathy"]}]}]}',
            "telepathy",
        ),
        ('{"providers": [{"name": "X", "base_url": "http://h/v1", "status": "sleepy"}]}', "status"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_catalogue_import_rejects_bad_files_and_stores_nothing(manage, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = manage("catalogue", "import", str(path), check=False)
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
    assert json.loads(manage("catalogue", "export").stdout)["providers"] == []


def test_seed_is_idempotent_and_keeps_operator_changes(manage):
    seeded = json.loads((ROOT / "catalogue" / "default_catalogue.json").read_text())["providers"]
    assert f"providers: {len(seeded)} created" in manage("catalogue", "seed").stdout
    manage(
        "shell",
        "-c",
        "from catalogue.models import Provider; Provider.objects.filter(name='Groq').update(status='ignored')",
    )
    assert "0 created" in manage("catalogue", "seed").stdout
    exported = json.loads(manage("catalogue", "export").stdout)
    names = {p["name"]: p for p in exported["providers"]}
    assert names["Groq"]["status"] == "ignored"
    assert {
        "PollinationsAI",
        "OpenAI",
        "OpenRouter",
        "Groq",
        "DeepSeek",
        "Mistral",
        "Together",
        "Ollama",
        "LMStudio",
        "vLLM",
    } <= set(names)
    assert names["Ollama"]["base_url"] == "http://localhost:11434/v1"
    assert names["PollinationsAI"]["adapter"] == "pollinations"
    assert (names["Anthropic"]["adapter"], names["Gemini"]["adapter"]) == ("anthropic", "gemini")
    assert names["Anthropic"]["needs_auth"] and names["Gemini"]["api_key_env"] == "GEMINI_API_KEY"


def test_import_of_a_partial_entry_updates_only_what_it_names(manage, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "providers": [
                    {"name": "Acme", "base_url": "http://127.0.0.1:9/v1", "priority": 4, "models": [{"name": "m1"}]}
                ]
            }
        )
    )
    manage("catalogue", "import", str(path))
    path.write_text(json.dumps({"providers": [{"name": "acme", "status": "ignored"}]}))
    assert "1 updated" in manage("catalogue", "import", str(path)).stdout
    acme = json.loads(manage("catalogue", "export").stdout)["providers"][0]
    assert acme["status"] == "ignored" and acme["priority"] == 4 and acme["base_url"] == "http://127.0.0.1:9/v1"
    assert acme["models"][0]["name"] == "m1"
