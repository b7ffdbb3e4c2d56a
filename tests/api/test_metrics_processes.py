"""Real `g4f api` processes: /metrics sums every worker's counts under `--workers 2`, /readyz answers
503 while the database cannot be opened, and a clean stop writes every queued usage row."""

import re
import sqlite3
import time
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.servers import G4F, ServerProcess, data_dir_with, fake_catalogue, manage

pytestmark = pytest.mark.slow
TOKEN = "metrics-token-for-tests"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("g4f-metrics-template")
    manage(path, "migrate", "--noinput")
    return path


@pytest.fixture
def start(tmp_path_factory, template, fake_upstream) -> Iterator:
    """`start(args, env)`: a started `g4f api ARGS` serving provider Alpha of the fake upstream."""
    started: list[ServerProcess] = []

    def start_server(args: list[str], env: dict[str, str] | None = None) -> ServerProcess:
        catalogue = fake_catalogue(fake_upstream, {"Alpha": ["fake-model"]})
        data_dir = data_dir_with(template, tmp_path_factory.mktemp("g4f-data") / "data", catalogue)
        server = ServerProcess([G4F, "api", *args], data_dir, env=env)
        started.append(server)
        return server.start()

    yield start_server
    for server in started:
        server.stop()


def chat(url: str) -> None:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    with requests.Session() as session:  # a new connection each time: the kernel spreads them over workers
        assert session.post(url + "/v1/chat/completions", json=body, timeout=20).status_code == 200


def requests_counted(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "g4f_requests":
            return sum(s.value for s in family.samples if s.name.endswith("_total") and s.labels["status"] == "200")
    return 0.0


def test_metrics_under_two_workers_sum_every_workers_requests(start):
    server = start(["--workers", "2", "--debug"], env={"G4F_METRICS_TOKEN": TOKEN})
    sent, pids = 0, set()
    while len(pids) < 2 and sent < 200:
        chat(server.url)
        sent += 1
        pids = set(re.findall(r"g4f\.access POST /v1/chat/completions 200 .* pid=(\d+)", server.log()))
    assert len(pids) == 2, "the requests reached only one worker"

    auth = {"Authorization": f"Bearer {TOKEN}"}
    scraped_by, totals = set(), []
    for _ in range(100):  # until two scrapes were answered by different workers, each with the sum
        with requests.Session() as session:
            response = session.get(server.url + "/metrics", headers=auth, timeout=20)
        assert response.status_code == 200
        totals.append(requests_counted(response.text))
        scraped_by |= set(re.findall(r"g4f\.access GET /metrics 200 .* pid=(\d+)", server.log()))
        if len(scraped_by) == 2 and totals[-1] == sent and totals[-2:] == [sent, sent]:
            break
        time.sleep(0.05)
    assert len(scraped_by) == 2 and totals[-2:] == [sent, sent], (scraped_by, totals[-5:], sent)
    assert server.get("/metrics").status_code == 401


def test_readyz_is_503_while_the_database_cannot_be_opened(start):
    server = start([])
    ready = server.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["catalogue"] == {"status": "ok", "providers": 1}

    database = server.data_dir / "db.sqlite3"
    moved = server.data_dir / "db.sqlite3.away"
    database.rename(moved)
    database.mkdir()  # SQLite cannot open a directory
    try:
        down = server.get("/readyz")
        assert down.status_code == 503
        body = down.json()
        assert body["status"] == "not_ready" and body["error"]["code"] == "not_ready"
        assert body["checks"]["database"]["status"] == "failed"
        assert body["checks"]["cache"]["status"] == "ok"
        assert str(server.data_dir) not in down.text
        assert server.get("/healthz").json() == {"status": "ok"}
    finally:
        database.rmdir()
        moved.rename(database)
    assert server.get("/readyz").status_code == 200


def test_a_clean_stop_writes_every_queued_usage_row(start):
    server = start([], env={"G4F_USAGE_FLUSH_INTERVAL": "3600"})
    for _ in range(6):
        chat(server.url)
    server.stop()  # SIGTERM: uvicorn finishes the requests, runs the lifespan shutdown; g4f api exits 0
    assert server.process.returncode == 0, server.log()
    with sqlite3.connect(server.data_dir / "db.sqlite3") as db:
        rows = db.execute("SELECT COUNT(*) FROM catalogue_usagerecord").fetchone()[0]
        rolled = db.execute("SELECT SUM(requests) FROM catalogue_usagerollup").fetchone()[0]
    assert (rows, rolled) == (6, 6), server.log()
