"""Issue 16.7: instances started at once on an empty database both come up: one migrates and seeds
under the start-up lock, the other waits, then finds nothing to do."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
G4F = str(Path(sys.executable).with_name("g4f"))


@pytest.mark.parametrize("shared_data_dir", [False, True], ids=["own-data-dirs", "one-data-dir"])
def test_two_instances_started_at_once_on_an_empty_sqlite_database_both_serve(tmp_path, shared_data_dir):
    database = tmp_path / "fresh.sqlite3"
    env = {**os.environ, "G4F_DB_PATH": str(database), "DJANGO_SETTINGS_MODULE": "g4fsite.settings"}
    for name in ("G4F_API_KEY", "REDIS_URL", "DATABASE_URL"):
        env.pop(name, None)
    ports = [free_port(), free_port()]
    processes = []
    try:
        for index, port in enumerate(ports):
            data_dir = tmp_path / ("data" if shared_data_dir else f"data-{index}")
            processes.append(
                subprocess.Popen(
                    [G4F, "api", "--host", "127.0.0.1", "--port", str(port)],
                    cwd=ROOT,
                    env={**env, "G4F_DATA_DIR": str(data_dir)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        serving = set()
        deadline = time.monotonic() + 120
        while len(serving) < len(ports) and time.monotonic() < deadline:
            for process in processes:
                assert process.poll() is None, f"an instance exited at start-up:\n{process.communicate()[0]}"
            for port in set(ports) - serving:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200:
                        serving.add(port)
                except requests.ConnectionError:
                    pass
            time.sleep(0.2)
        assert serving == set(ports)
    finally:
        for process in processes:
            stop_process(process)
    outputs = [process.communicate()[0] for process in processes]
    assert sum("Applying database migrations" in output for output in outputs) == 1, outputs
    assert sum("seeded the default catalogue" in output for output in outputs) == 1, outputs
    with sqlite3.connect(database) as connection:
        (providers,) = connection.execute("SELECT COUNT(*) FROM catalogue_provider").fetchone()
        (names,) = connection.execute("SELECT COUNT(DISTINCT name) FROM catalogue_provider").fetchone()
    assert providers == names > 0  # seeded once, not twice
