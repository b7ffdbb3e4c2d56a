"""With DATABASE_URL=postgres://..., the gateway runs on PostgreSQL: migrations, keys, chat,
conversations (their lease is a conditional UPDATE) and usage records, through a real server."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.helpers import daphne_server
from tests.services import needs_postgres

ROOT = Path(__file__).resolve().parents[1]
pytestmark = needs_postgres


def test_the_gateway_on_postgresql(tmp_path, postgres_url, fake):
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "G4F_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "g4fsite.settings",
    }
    env.pop("G4F_API_KEY", None)

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout

    manage("migrate", "--noinput")
    vendor = manage("shell", "-c", "from django.db import connection; print(connection.vendor)")
    assert vendor.strip().splitlines()[-1] == "postgresql"
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(
        json.dumps(
            {
                "providers": [
                    {"name": "alpha", "base_url": fake.provider_url("alpha"), "models": [{"name": "fake-model"}]},
                ]
            }
        )
    )
    manage("catalogue", "import", str(catalogue))
    key = manage("apikey", "create", "pg").strip().splitlines()[-1]

    headers = {"authorization": f"Bearer {key}"}
    with daphne_server(env) as base_url:
        url = f"{base_url}/v1/chat/completions"
        assert requests.post(url, json={}, timeout=10).status_code == 401
        for text in ("first", "second"):
            body = {
                "model": "fake-model",
                "conversation_id": "pg-talk",
                "messages": [{"role": "user", "content": text}],
            }
            answer = requests.post(url, json=body, headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
        assert [m["content"] for m in fake.requests_for("alpha")[-1].json["messages"]] == [
            "first",
            "Hello from alpha: first",
            "second",
        ]
        stored = requests.get(f"{base_url}/v1/conversations/pg-talk", headers=headers, timeout=10).json()
        assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]
        time.sleep(1.5)  # the usage thread flushes every 0.5 s
    count = manage(
        "shell",
        "-c",
        "from catalogue.models import UsageRecord; print(UsageRecord.objects.filter(success=True).count())",
    )
    assert count.strip().splitlines()[-1] == "2"  # the two answered requests
