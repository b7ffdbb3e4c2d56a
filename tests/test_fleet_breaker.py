"""Issue 16.8: with Redis, the breaker opens after exactly BREAKER_THRESHOLD (5) failures in total,
however they are spread over the gateway processes; here two instances sharing a real Redis and the
database, an upstream answering 500, requests alternating between the instances."""

import shutil
import sqlite3

import pytest

from tests.cli.servers import G4F, ServerProcess, data_dir_with, fake_catalogue, manage
from tests.helpers import wait_until

pytestmark = pytest.mark.slow
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


def provider_status(database, name: str) -> str:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT status FROM catalogue_provider WHERE name = ?", (name,)).fetchone()[0]


def test_the_breaker_opens_after_the_threshold_in_total_across_two_instances(tmp_path, fake, redis_server):
    template = tmp_path / "template"
    manage(template, "migrate", "--noinput")
    machine_a = data_dir_with(template, tmp_path / "a", fake_catalogue(fake, {"alpha": ["fake-model"]}))
    machine_b = tmp_path / "b"
    shutil.copytree(template, machine_b)
    database = machine_a / "db.sqlite3"
    shared = {"REDIS_URL": redis_server.url, "G4F_DB_PATH": str(database)}
    fake.set_fault("alpha", "500")
    servers = [ServerProcess([G4F, "api"], machine, env=shared) for machine in (machine_a, machine_b)]
    try:
        for server in servers:
            server.start()
        statuses = [servers[index % 2].post("/v1/chat/completions", CHAT).status_code for index in range(5)]
        assert statuses == [502] * 5  # 3 on one instance, 2 on the other: neither reaches 5 alone
        assert wait_until(lambda: provider_status(database, "alpha") == "not_working", timeout=10)
        after = [servers[index % 2].post("/v1/chat/completions", CHAT) for index in range(4)]
    finally:
        for server in servers:
            server.stop()
    assert {response.status_code for response in after} == {503}, [response.text for response in after]
    assert len(fake.requests_for("alpha")) == 5
