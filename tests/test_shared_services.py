"""With REDIS_URL set, processes that share no files still see each other's catalogue changes (published
to each process's subscription; the documented bound is 2 s), without reading Redis per request."""

import json
import os
import subprocess
import sys
from pathlib import Path

import redis
import requests

from tests.helpers import daphne_server, wait_until

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
        assert wait_until(lambda: requests.post(url, json=chat, timeout=10).json()["provider"] == "beta", timeout=2)


def _redis_gets(redis_server) -> int:
    with redis.Redis.from_url(redis_server.url) as client:
        return client.info("commandstats").get("cmdstat_get", {}).get("calls", 0)


def test_requests_do_not_read_the_catalogue_stamp_from_redis(tmp_path, redis_server, fake):
    """The stamp check on the request path is a memory read; Redis is read once a second."""
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "G4F_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "g4fsite.settings",
    }
    env.pop("G4F_API_KEY", None)
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(
        json.dumps(
            {
                "providers": [
                    {"name": "alpha", "base_url": fake.provider_url("alpha"), "models": [{"name": "fake-model"}]}
                ]
            }
        )
    )
    for args in (("migrate", "--noinput"), ("catalogue", "import", str(catalogue))):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    chat = {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]}
    with daphne_server(env) as base_url:
        with requests.Session() as session:
            assert session.post(f"{base_url}/v1/chat/completions", json=chat, timeout=10).status_code == 200
            before = _redis_gets(redis_server)
            for _ in range(100):
                assert session.post(f"{base_url}/v1/chat/completions", json=chat, timeout=10).status_code == 200
            assert _redis_gets(redis_server) - before < 20  # 100 requests; a few background reads
