"""The several-instance topology of docs/deploy.md on loopback: PostgreSQL, Redis, two gateway
instances started with the documented command (`g4f api --workers 2`, the same secrets, their own
data and media directories, as on two machines) and nginx with `deploy/nginx.conf` in front.
Also a load generator that records when each request started and ended and how it was answered."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from tests.deploy.nginx import NginxServer
from tests.helpers import free_port, port_open, wait_until
from tests.services import PostgresServer, RedisServer, postgres_service, redis_service, s3_server

ROOT = Path(__file__).resolve().parents[2]
G4F = str(Path(sys.executable).with_name("g4f"))
WORKERS = 2
START_TIMEOUT = 120.0
S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY = "g4f-media", "AKIATOPOLOGYTEST01", "topology-s3-secret"


class GatewayInstance:
    """One `g4f api --workers 2` process group on a fixed loopback port, stoppable and restartable."""

    def __init__(self, name: str, env: dict[str, str], directory: Path) -> None:
        self.name = name
        self.env = env
        self.port = free_port()
        self.log = directory / f"{name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start the process group; `wait_ready` waits for it to answer."""
        command = [G4F, "api", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(WORKERS)]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{self.name} did not start"
            time.sleep(0.3)

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def terminate(self) -> None:
        """SIGTERM to the main process, as `docker stop` sends it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to every process of the instance, as a crashed machine; returns once its port is closed."""
        assert self.process is not None
        self._signal_group(signal.SIGKILL)
        self.process.wait(30)
        assert wait_until(lambda: not port_open(self.port), timeout=30, interval=0.01), f"{self.name} still listens"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole group if it has not stopped within 40 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    def manage(self, *args: str, redis: bool = True) -> str:
        """`manage.py ARGS` with this instance's environment (without REDIS_URL when not `redis`)."""
        env = dict(self.env) if redis else {k: v for k, v in self.env.items() if k != "REDIS_URL"}
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False


@dataclass
class Topology:
    postgres: PostgresServer
    redis: RedisServer
    gateways: list[GatewayInstance]
    nginx: NginxServer
    master_key: str
    directory: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}


def gateway_environment(postgres: PostgresServer, redis: RedisServer, master_key: str) -> dict[str, str]:
    """What every instance shares: the database, Redis and the secrets."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "g4fsite.settings",
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "G4F_API_KEY": master_key,
        "DJANGO_SECRET_KEY": "topology-" + Fernet.generate_key().decode(),
        "G4F_SECRETS_KEY": Fernet.generate_key().decode(),
    }
    for name in ("G4F_DB_PATH", "PROMETHEUS_MULTIPROC_DIR", "G4F_PUBLIC_BASE_URL", "G4F_DEBUG"):
        env.pop(name, None)
    return env


@contextmanager
def topology(directory: Path, catalogue: Path) -> Iterator[Topology]:
    """Start everything, migrate once, import `catalogue`; stop everything on the way out."""
    with ExitStack() as stack:
        postgres = stack.enter_context(postgres_service())
        redis = stack.enter_context(redis_service())
        (directory / "s3").mkdir(parents=True)
        endpoint, _ = stack.enter_context(s3_server(directory / "s3", S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET))
        master_key = "sk-topology-master"
        shared = gateway_environment(postgres, redis, master_key)
        shared.update(  # media in one bucket every instance reads (docs/media.md)
            {
                "G4F_MEDIA_STORAGE": "s3",
                "G4F_S3_BUCKET": S3_BUCKET,
                "G4F_S3_ENDPOINT_URL": endpoint,
                "G4F_S3_ACCESS_KEY_ID": S3_ACCESS_KEY,
                "G4F_S3_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            }
        )
        gateways = []
        for name in ("gateway-1", "gateway-2"):
            data = directory / name
            data.mkdir(parents=True)
            env = {**shared, "G4F_DATA_DIR": str(data), "G4F_MEDIA_DIR": str(data / "media")}
            gateways.append(GatewayInstance(name, env, directory))
        gateways[0].manage("migrate", "--noinput")  # the one-shot migrate step
        gateways[0].manage("catalogue", "import", str(catalogue))
        for gateway in gateways:
            stack.callback(gateway.stop)
            gateway.launch()
        for gateway in gateways:
            gateway.wait_ready()
        nginx = NginxServer(directory / "nginx", {g.name + ":1337": g.port for g in gateways})
        stack.callback(nginx.stop)
        nginx.start()
        yield Topology(postgres, redis, gateways, nginx, master_key, directory)


@dataclass
class Outcome:
    """One request of a load run: wall-clock start and end, and the status (0: no answer)."""

    started: float
    ended: float
    status: int
    error: str = ""


@dataclass
class Load:
    """Clients posting `body` to `url` in a loop from `clients` threads until stopped."""

    url: str
    body: dict
    headers: dict[str, str]
    clients: int = 4
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def during(self, seconds: float, action: Callable[[], None] | None = None) -> None:
        """Let the load run `seconds`, then do `action`."""
        time.sleep(seconds)
        if action is not None:
            action()

    def _client(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.time()
            try:
                response = session.post(self.url, json=self.body, headers=self.headers, timeout=30)
                status, error = response.status_code, "" if response.ok else response.text[:300]
            except requests.RequestException as exc:
                status, error = 0, repr(exc)
            with self._lock:
                self.outcomes.append(Outcome(started, time.time(), status, error))
