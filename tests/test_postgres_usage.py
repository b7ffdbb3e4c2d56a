"""Issue 16.5: usage rows survive a PostgreSQL restart under load. `g4f api --workers 2` serves chat
from 4 client threads while the database server is stopped and started again; afterwards every
answered request has its usage row, and the hourly roll-ups count each row once."""

import json
import threading
import time
from collections import Counter

import psycopg
import pytest
import requests

from tests.cli.servers import G4F, ServerProcess, fake_catalogue, manage
from tests.helpers import wait_until
from tests.services import needs_postgres

pytestmark = [needs_postgres, pytest.mark.slow]

CLIENTS = 4


class Load:
    """Client threads sending chat requests until stopped, counting the answers by status."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []  # no answer at all
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "count me"}]}
        with requests.Session() as session:
            while not self.stopping.is_set():
                try:
                    status = session.post(f"{self.url}/v1/chat/completions", json=body, timeout=30).status_code
                except requests.RequestException as exc:
                    with self.lock:
                        self.failures.append(repr(exc))
                    continue
                with self.lock:
                    self.statuses[status] += 1

    def answered(self) -> int:
        with self.lock:
            return sum(self.statuses.values())

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)


def counts(url: str) -> tuple[int, int]:
    """(usage rows, requests summed over the roll-ups)."""
    with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=10) as db:
        rows = db.execute("SELECT count(*) FROM catalogue_usagerecord").fetchone()[0]
        rolled = db.execute("SELECT coalesce(sum(requests), 0) FROM catalogue_usagerollup").fetchone()[0]
    return rows, rolled


def test_usage_rows_survive_a_postgresql_restart_under_load(tmp_path, postgres_server, fake):
    url = postgres_server.url
    manage(tmp_path, "migrate", "--noinput", DATABASE_URL=url)
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps(fake_catalogue(fake, {"Alpha": ["fake-model"]})))
    manage(tmp_path, "catalogue", "import", str(catalogue), DATABASE_URL=url)
    server = ServerProcess([G4F, "api", "--workers", "2"], tmp_path, env={"DATABASE_URL": url}).start()
    try:
        with Load(server.url) as load:
            assert wait_until(lambda: load.answered() >= 20, timeout=60), load.statuses
            postgres_server.stop()
            down_from, down_at = load.answered(), time.monotonic()
            # Down for several flush intervals (0.5 s), however fast the requests go meanwhile.
            assert wait_until(
                lambda: load.answered() >= down_from + 50 and time.monotonic() - down_at > 2.0, timeout=60
            ), load.statuses
            postgres_server.start()
            up_from = load.answered()
            assert wait_until(lambda: load.answered() >= up_from + 50, timeout=60), load.statuses
        answered = load.answered()
        assert not load.failures, load.failures[:3]
        assert load.statuses[200] > 0, load.statuses
        # The writers retry every few seconds at most (RETRY_MAX_DELAY): every row arrives without a restart.
        assert wait_until(lambda: counts(url)[0] >= answered, timeout=60, interval=0.5), (counts(url), answered)
        assert counts(url) == (answered, answered), load.statuses
        assert "Cannot write usage records" in server.log()  # the outage was seen, not missed
    finally:
        server.stop()
