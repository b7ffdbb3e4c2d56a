"""Issue 16.2: a catalogue change made by any writer reaches every instance within 2 s, even when the
instances share nothing but the database (their own data directories, with or without Redis)."""

import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.helpers import daphne_server, free_port, port_open, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[1]
REDIS = shutil.which("redis-server")
PROPAGATION_SECONDS = 2.0


@pytest.fixture
def shared_env(tmp_path):
    """Environment for processes sharing one SQLite database and nothing else."""
    env = {**os.environ, "G4F_DB_PATH": str(tmp_path / "shared.sqlite3"), "DJANGO_SETTINGS_MODULE": "g4fsite.settings"}
    for name in ("G4F_API_KEY", "REDIS_URL", "DATABASE_URL"):
        env.pop(name, None)
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout


def _status(base_url: str, key: str) -> int:
    return requests.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code


def _revoke_reaches(tmp_path, shared_env, gateway_envs: list[dict[str, str]]) -> None:
    operator = {**shared_env, "G4F_DATA_DIR": str(tmp_path / "operator")}
    _manage(operator, "migrate", "--noinput")
    _manage(operator, "apikey", "create", "keeper")  # a key stays active, so auth stays on after the revoke
    doomed = _manage(operator, "apikey", "create", "doomed").strip().splitlines()[-1]
    with ExitStack() as stack:
        urls = [stack.enter_context(daphne_server(env)) for env in gateway_envs]
        for url in urls:
            assert _status(url, doomed) == 200
        _manage(operator, "apikey", "revoke", "doomed")
        revoked_at = time.monotonic()
        for url in urls:
            assert wait_until(lambda url=url: _status(url, doomed) == 401, timeout=PROPAGATION_SECONDS, interval=0.1)
        assert time.monotonic() - revoked_at <= PROPAGATION_SECONDS + 0.5


def test_a_key_revoked_without_redis_fails_on_instances_with_other_data_dirs(tmp_path, shared_env):
    gateways = [{**shared_env, "G4F_DATA_DIR": str(tmp_path / name)} for name in ("machine-a", "machine-b")]
    _revoke_reaches(tmp_path, shared_env, gateways)


@pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (scripts/test installs it)")
def test_a_key_revoked_without_redis_fails_on_an_instance_using_redis(tmp_path, shared_env):
    port = free_port()
    redis = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: port_open(port), timeout=10), "redis-server did not start"
        gateways = [
            {**shared_env, "G4F_DATA_DIR": str(tmp_path / "machine-a"), "REDIS_URL": f"redis://127.0.0.1:{port}/0"},
            {**shared_env, "G4F_DATA_DIR": str(tmp_path / "machine-b")},
        ]
        _revoke_reaches(tmp_path, shared_env, gateways)
    finally:
        stop_process(redis)
