"""Key limits hold exactly across processes: two gateway processes of one machine (the file store in
their shared data directory) and two instances that share only a real Redis server (and the database).

One key with `--rpm 50`; 200 requests at once, spread over both servers: exactly 50 succeed."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.cli.servers import G4F, ServerProcess, data_dir_with, fake_catalogue, manage

pytestmark = pytest.mark.slow
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def template(tmp_path_factory, fake_upstream) -> Path:
    """A migrated data directory whose catalogue points at the fake upstream."""
    migrated = tmp_path_factory.mktemp("limits-template") / "data"
    manage(migrated, "migrate", "--noinput")
    catalogue = fake_catalogue(fake_upstream, {"alpha": ["fake-model"]})
    return data_dir_with(migrated, tmp_path_factory.mktemp("limits") / "data", catalogue)


def burst(servers: list[ServerProcess], key: str, count: int = 200) -> list[int]:
    """`count` chat requests at once, alternating between the servers; their status codes."""
    headers = {"authorization": f"Bearer {key}"}

    def one(index: int) -> int:
        server = servers[index % len(servers)]
        return requests.post(server.url + "/v1/chat/completions", json=CHAT, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=100) as pool:
        return list(pool.map(one, range(count)))


def create_key(data_dir: Path, *args: str, **env: str) -> str:
    return manage(data_dir, "apikey", "create", *args, **env).strip().splitlines()[-1]


def started(servers: list[ServerProcess]) -> list[ServerProcess]:
    try:
        for server in servers:
            server.start()
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


def test_rpm_is_exact_across_two_processes_of_one_machine(template, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(template, data_dir)
    key = create_key(data_dir, "burst", "--rpm", "50")
    servers = started([ServerProcess([G4F, "api"], data_dir), ServerProcess([G4F, "api"], data_dir)])
    try:
        statuses = burst(servers, key)  # alternating: each process serves 100
    finally:
        for server in servers:
            server.stop()
    assert statuses.count(200) == 50, statuses
    assert statuses.count(429) == 150
    assert (data_dir / "key-limits.bin").exists()


def test_limits_are_exact_across_two_instances_sharing_redis(template, tmp_path, redis_server):
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(template, machine_a)
    shutil.copytree(template, machine_b)
    shared = {"REDIS_URL": redis_server.url, "G4F_DB_PATH": str(machine_a / "db.sqlite3")}
    key = create_key(machine_a, "burst", "--rpm", "50", **shared)
    servers = started(
        [ServerProcess([G4F, "api"], machine_a, env=shared), ServerProcess([G4F, "api"], machine_b, env=shared)]
    )
    try:
        statuses = burst(servers, key)
        # The budget's spend lives in Redis too: a second key with a spent budget is refused on both.
        budget_key = create_key(machine_a, "broke", "--budget", "0", **shared)
        for server in servers:
            refused = server.post("/v1/chat/completions", CHAT, headers={"authorization": f"Bearer {budget_key}"})
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"
    finally:
        for server in servers:
            server.stop()
    assert statuses.count(200) == 50, statuses
    assert statuses.count(429) == 150
    assert not (machine_a / "key-limits.bin").exists() and not (machine_b / "key-limits.bin").exists()
