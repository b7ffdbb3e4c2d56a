"""Issue 16.1 (the catalogue part): with Redis stopped, an instance using it keeps serving its
catalogue snapshot and key checks instead of answering 500, and recovers when Redis is back."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.helpers import daphne_server, free_port, port_open, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[1]
REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (scripts/test installs it)")


def _redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert wait_until(lambda: port_open(port), timeout=10), "redis-server did not start"
    return process


def test_models_and_key_checks_answer_while_redis_is_stopped(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "G4F_DB_PATH": str(tmp_path / "db.sqlite3"),
        "G4F_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "g4fsite.settings",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
    }
    env.pop("G4F_API_KEY", None)

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout

    redis = _redis(port)
    try:
        manage("migrate", "--noinput")
        key = manage("apikey", "create", "client").strip().splitlines()[-1]
        with daphne_server(env) as base_url:

            def status(bearer: str) -> int:
                headers = {"Authorization": f"Bearer {bearer}"}
                return requests.get(f"{base_url}/v1/models", headers=headers, timeout=10).status_code

            assert status(key) == 200
            stop_process(redis)
            statuses = [(status(key), status("sk-wrong")) for _ in range(5)]
            assert statuses == [(200, 401)] * 5
            redis = _redis(port)
            assert wait_until(lambda: status(key) == 200 and status("sk-wrong") == 401, timeout=5)
    finally:
        stop_process(redis)
