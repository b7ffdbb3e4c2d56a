"""Issue 16.1: an instance using Redis survives Redis stopped, restarted and hung.

Catalogue and key checks keep answering from the snapshot; limited keys are counted per instance
(the fallback file store) while Redis is unreachable and in Redis again once it answers; `/readyz`
says the instance is degraded and recovers; nothing answers 500, and a hung Redis costs a request
well under a second."""

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import requests

from tests.cli.servers import G4F, ServerProcess, data_dir_with, fake_catalogue, manage
from tests.helpers import daphne_server, wait_until

ROOT = Path(__file__).resolve().parents[1]
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
pytestmark = pytest.mark.slow


def test_models_and_key_checks_answer_while_redis_is_stopped(tmp_path, redis_server):
    env = {
        **os.environ,
        "G4F_DB_PATH": str(tmp_path / "db.sqlite3"),
        "G4F_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "g4fsite.settings",
        "REDIS_URL": redis_server.url,
    }
    env.pop("G4F_API_KEY", None)

    def manage_here(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout

    manage_here("migrate", "--noinput")
    key = manage_here("apikey", "create", "client").strip().splitlines()[-1]
    doomed = manage_here("apikey", "create", "doomed").strip().splitlines()[-1]
    with daphne_server(env) as base_url:

        def status(bearer: str) -> int:
            headers = {"Authorization": f"Bearer {bearer}"}
            return requests.get(f"{base_url}/v1/models", headers=headers, timeout=10).status_code

        assert status(key) == 200 and status(doomed) == 200
        redis_server.stop()
        statuses = [(status(key), status("sk-wrong")) for _ in range(5)]
        assert statuses == [(200, 401)] * 5
        # Bounded staleness: a key revoked while Redis is away is refused within 2 s (the version row).
        manage_here("apikey", "revoke", "doomed")
        revoked_at = time.monotonic()
        assert wait_until(lambda: status(doomed) == 401, timeout=10)
        assert time.monotonic() - revoked_at < 2.5
        redis_server.start()
        assert wait_until(lambda: status(key) == 200 and status("sk-wrong") == 401, timeout=5)


@pytest.fixture
def instance(tmp_path, fake, redis_server):
    """One `g4f api` instance on Redis with keys: `load` (limited, never refused), `outage` and
    `after` (each `--rpm 20`); yields (server, {name: (key, id)})."""
    data_dir = tmp_path / "data"
    manage(data_dir, "migrate", "--noinput")
    env = {"REDIS_URL": redis_server.url}
    data_dir_with(data_dir, tmp_path / "instance", fake_catalogue(fake, {"alpha": ["fake-model"]}))
    data_dir = tmp_path / "instance"
    keys = {}
    for name, limit in (("load", "100000"), ("outage", "20"), ("after", "20")):
        keys[name] = manage(data_dir, "apikey", "create", name, "--rpm", limit, **env).strip().splitlines()[-1]
    with sqlite3.connect(data_dir / "db.sqlite3") as db:
        ids = dict(db.execute("SELECT name, id FROM catalogue_apikey"))
    server = ServerProcess([G4F, "api"], data_dir, env=env).start()
    try:
        yield server, {name: (key, ids[name]) for name, key in keys.items()}
    finally:
        server.stop()


class Load:
    """Threads sending chat requests with one key until stopped; every (status, seconds) kept."""

    def __init__(self, server: ServerProcess, key: str, threads: int = 4) -> None:
        self.url, self.headers = server.url + "/v1/chat/completions", {"authorization": f"Bearer {key}"}
        self.results: list[tuple[int, float]] = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self.done.is_set():
            started = time.monotonic()
            status = requests.post(self.url, json=CHAT, headers=self.headers, timeout=30).status_code
            self.results.append((status, time.monotonic() - started))

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(60)


def burst(server: ServerProcess, key: str, count: int) -> list[int]:
    headers = {"authorization": f"Bearer {key}"}
    return [server.post("/v1/chat/completions", CHAT, headers=headers).status_code for _ in range(count)]


def readyz(server: ServerProcess) -> dict:
    response = server.get("/readyz")
    assert response.status_code == 200, response.text
    return response.json()


def test_redis_stopped_and_started_under_load(instance, redis_server):
    server, keys = instance
    shared = redis.Redis(port=redis_server.port)
    with Load(server, keys["load"][0]) as load:
        assert wait_until(lambda: len(load.results) >= 8, timeout=30)
        assert readyz(server)["degraded"] is False
        redis_server.stop()
        # Limits hold per instance while Redis is away: exactly the rpm is let through.
        outage = burst(server, keys["outage"][0], 30)
        assert outage.count(200) == 20 and outage.count(429) == 10, outage
        down = readyz(server)
        assert down["status"] == "degraded" and down["degraded"] is True
        assert down["checks"]["cache"]["status"] == "unreachable"
        during = len(load.results)
        redis_server.start()
        assert wait_until(lambda: readyz(server)["degraded"] is False, timeout=10)
        time.sleep(1.5)  # the limit counters try Redis again at most once a second
        assert wait_until(lambda: len(load.results) >= during + 8, timeout=30)
    # Shared counting resumed: the counter of a key used after the restart is in Redis.
    after = burst(server, keys["after"][0], 25)
    assert after.count(200) == 20 and after.count(429) == 5, after
    assert int(shared.get(f"g4f:key:{{{keys['after'][1]}}}:rpm")) == 20
    statuses = {status for status, _ in load.results}
    assert statuses == {200}, (
        sorted(statuses),
        server.log()[-4000:],
    )  # the load key's limit is never reached: no 500, no 503
    assert len(load.results) >= during + 8
    shared.close()


def test_hung_redis_costs_a_request_well_under_a_second(instance, redis_server):
    server, keys = instance
    assert burst(server, keys["load"][0], 3) == [200] * 3
    redis_server.pause()
    try:
        with Load(server, keys["load"][0], threads=3) as load:
            time.sleep(6)
        hung = readyz(server)
        assert hung["degraded"] is True and hung["checks"]["cache"]["status"] == "unreachable"
    finally:
        redis_server.resume()
    statuses = [status for status, _ in load.results]
    slowest = max(seconds for _, seconds in load.results)
    assert len(statuses) >= 10 and set(statuses) == {200}, statuses
    assert slowest < 1.5, slowest
    assert wait_until(lambda: readyz(server)["degraded"] is False, timeout=10)
    assert burst(server, keys["load"][0], 3) == [200] * 3
