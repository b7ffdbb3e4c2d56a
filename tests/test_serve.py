"""The server commands a newcomer runs: `manage.py runserver` and daphne, as real processes."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import DAPHNE, free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_env(tmp_path):
    env = {**os.environ, "G4F_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "g4fsite.settings"}
    env.pop("G4F_API_KEY", None)
    for command in (["migrate", "--noinput"], ["catalogue", "seed"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
        )
    return env


def serve_and_get(command: list[str], env: dict, port: int) -> dict:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                return requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()
            except requests.ConnectionError:
                if process.poll() is not None:
                    raise AssertionError(process.stdout.read().decode()) from None
                time.sleep(0.2)
        raise AssertionError("the server did not answer within 60 s")
    finally:
        stop_process(process)


def test_runserver_serves_the_seeded_catalogue(data_env):
    port = free_port()
    models = serve_and_get(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], data_env, port
    )
    ids = {m["id"] for m in models["data"]}
    assert "gpt-4o-mini" in ids and "PollinationsAI" in ids


def test_daphne_serves_the_seeded_catalogue(data_env):
    port = free_port()
    models = serve_and_get([DAPHNE, "-b", "127.0.0.1", "-p", str(port), "g4fsite.asgi:application"], data_env, port)
    assert any(m["id"] == "Ollama" and m["provider"] for m in models["data"])
