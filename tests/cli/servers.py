"""Real `g4f api` / `manage.py api` server processes for the command-line tests.

Each server gets its own data directory (a copy of a migrated template whose catalogue points at
the in-process fake upstream), a free port, a clean environment (no `G4F_*` from the test run) and
its output in a log file. `ServerProcess.stop()` terminates it, waits, and kills it on timeout.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.helpers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
G4F = str(VENV_BIN / "g4f")
MANAGE = [sys.executable, str(ROOT / "manage.py")]
STRIPPED = ("G4F_", "DJANGO_", "REDIS_URL", "DATABASE_URL", "ALLOWED_HOSTS", "CORS_")


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The test run's environment without gateway settings, pointed at `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED)}
    env.update(DJANGO_SETTINGS_MODULE="g4fsite.settings", G4F_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    env["G4F_MEDIA_DIR"] = str(data_dir / "media")
    env.update(extra)
    return env


def manage(data_dir: Path, *args: str, **env: str) -> str:
    result = subprocess.run(
        [*MANAGE, *args], cwd=ROOT, env=clean_env(data_dir, **env), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fake_catalogue(fake, providers: dict[str, list[str]], **fields) -> dict:
    """A catalogue file's data: each provider served by the fake upstream with the given models."""
    return {
        "providers": [
            {
                "name": name,
                "adapter": "openai",
                "base_url": fake.provider_url(name),
                "status": "working",
                "models": [{"name": m, "upstream": m, "capabilities": ["chat"]} for m in models],
                **fields.get(name, {}),
            }
            for name, models in providers.items()
        ]
    }


def data_dir_with(template: Path, target: Path, catalogue: dict | None = None) -> Path:
    """A copy of the migrated template data directory, with `catalogue` imported if given."""
    shutil.copytree(template, target)
    if catalogue is not None:
        path = target / "catalogue.json"
        path.write_text(json.dumps(catalogue))
        manage(target, "catalogue", "import", str(path))
    return target


class ServerProcess:
    """A gateway server in a child process, on 127.0.0.1 and a free port (`port_args` says how the
    command is told the port: `--port N` unless given)."""

    def __init__(
        self,
        command: list[str],
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        port_args: Callable[[int], list[str]] = lambda port: ["--port", str(port)],
    ):
        self.port = port or free_port()
        self.command = [*command, *port_args(self.port)]
        self.data_dir = data_dir
        self.env = clean_env(data_dir, **(env or {}))
        self.log_path = data_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> "ServerProcess":
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self.process.returncode}:\n{self.log()}")
            try:
                requests.get(self.url + "/", timeout=2, allow_redirects=False)
                return self
            except (requests.ConnectionError, requests.Timeout):  # gunicorn listens before its workers are up
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.command} did not start in {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        stop_process(self.process, timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 20)
        return requests.get(self.url + path, **kwargs)

    def post(self, path: str, json=None, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 20)
        return requests.post(self.url + path, json=json, **kwargs)

    def write_calls(self) -> int:
        """System calls that wrote (write, send...) by the server and its worker processes so far."""
        pids, total = [self.process.pid], 0
        while pids:
            pid = pids.pop()
            try:
                lines = Path(f"/proc/{pid}/io").read_text().splitlines()
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            total += next(int(line.split()[1]) for line in lines if line.startswith("syscw:"))
            pids.extend(int(child) for child in children)
        return total

    def writes_per_answer(self, count: int = 40, **headers: str) -> float:
        """Write calls per answer to `count` chat requests that are refused at once (a body that is
        not JSON: 400, nothing sent upstream or recorded) on one keep-alive connection."""
        with requests.Session() as session:

            def refused() -> None:
                answer = session.post(self.url + "/v1/chat/completions", data="{", headers=headers, timeout=20)
                assert answer.status_code == 400, answer.text

            refused()  # the connection made, a worker and its metrics warmed up
            before = self.write_calls()
            for _ in range(count):
                refused()
            return (self.write_calls() - before) / count
