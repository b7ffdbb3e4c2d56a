"""With REDIS_URL set, processes that share no files still see each other's catalogue changes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.helpers import daphne_server

ROOT = Path(__file__).resolve().parents[1]


def test_a_change_made_on_another_machine_is_seen_through_redis(tmp_path, redis_server, fake):
    database = tmp_path / "shared.sqlite3"
    base = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "G4F_DB_PATH": str(database),
        "DJANGO_SETTINGS_MODULE": "g4fsite.settings",
    }
    base.pop("G4F_API_KEY", None)
    server_env = {**base, "G4F_DATA_DIR": str(tmp_path / "machine-a")}
    operator_env = {**base, "G4F_DATA_DIR": str(tmp_path / "machine-b")}

    def manage(*args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=operator_env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    catalogue = tmp_path / "catalogue.json"
    providers = [
        {"name": name, "base_url": fake.provider_url(name), "priority": priority, "models": [{"name": "fake-model"}]}
        for name, priority in (("alpha", 5), ("beta", 1))
    ]
    catalogue.write_text(json.dumps({"providers": providers}))
    manage("migrate", "--noinput")
    manage("catalogue", "import", str(catalogue))

    chat = {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]}
    with daphne_server(server_env) as base_url:
        url = f"{base_url}/v1/chat/completions"
        assert requests.post(url, json=chat, timeout=10).json()["provider"] == "alpha"
        providers[0]["status"] = "ignored"
        catalogue.write_text(json.dumps({"providers": providers}))
        manage("catalogue", "import", str(catalogue))
        assert requests.post(url, json=chat, timeout=10).json()["provider"] == "beta"
