"""This gateway, set up as an operator would: its own data directory, migrated, a catalogue imported
with `manage.py catalogue import` pointing at the fake upstream, auth on with a key from
`manage.py apikey create bench`, served by uvicorn (uvloop + `g4f api`'s httptools protocol, one worker per core; the
recommended production server, chosen by measurement against daphne: see bench/README.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from bench.procs import free_port
from bench.targets import FLAVOURS, REPO_DIR, WORK_DIR, Server, Unavailable, upstream_base, uvicorn_command

# The source tree the gateway runs from: this checkout, or another one (e.g. `git archive` of an
# older commit) to compare before and after a change.
SOURCE_DIR = os.environ.get("BENCH_GATEWAY_SRC") or str(REPO_DIR)


# The venv installs this checkout in editable mode, whose import hook falls back to this checkout for
# any module another source tree lacks (a baseline without `completions/admin.py` would import ours).
# A source tree other than this one runs with that hook removed, from this sitecustomize.
ISOLATE_SOURCE = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
"""


def gateway_env(data_dir, source: str = str(REPO_DIR)) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("G4F_", "DJANGO_"))}
    env.update({"G4F_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "g4fsite.settings", "PYTHONUNBUFFERED": "1"})
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if os.path.realpath(source) != os.path.realpath(REPO_DIR):
        site_dir = data_dir / "isolate-source"
        site_dir.mkdir(exist_ok=True)
        (site_dir / "sitecustomize.py").write_text(ISOLATE_SOURCE)
        env["PYTHONPATH"] = str(site_dir)
    return env


# The models the Messages and Responses scenarios name for native pass-through (bench/scenarios.py):
# one served by an `anthropic` provider, one by an OpenAI-compatible provider serving /responses.
NATIVE_PROVIDERS = {
    "bench-claude": ("BenchAnthropic", "anthropic", ["chat"]),
    "bench-responses": ("BenchResponses", "openai", ["chat", "responses"]),
}


def catalogue_file(upstream_port: int, *, native: bool = True) -> dict:
    """The bench catalogue: a chat provider per fake-upstream flavour, and with `native` the
    Messages/Responses pass-through providers (left out for an older source tree, which may not
    know their capabilities)."""

    def provider(name: str, adapter: str, base_url: str, model: str, capabilities: list[str]) -> dict:
        return {
            "name": name,
            "adapter": adapter,
            "base_url": base_url,
            "status": "working",
            "priority": 10,
            "needs_auth": False,
            "timeout": 60,
            "description": "The benchmark's fake upstream.",
            "models": [{"name": model, "upstream": model, "capabilities": capabilities}],
        }

    fast = upstream_base(upstream_port, "fast")
    return {
        "providers": [
            *(
                provider(f"Bench{flavour.title()}", "openai", upstream_base(upstream_port, flavour), model, ["chat"])
                for flavour, (model, _) in FLAVOURS.items()
            ),
            *(
                # The anthropic adapter adds `v1/messages` to its base URL.
                provider(name, adapter, fast.removesuffix("/v1") if adapter == "anthropic" else fast, model, caps)
                for model, (name, adapter, caps) in (NATIVE_PROVIDERS.items() if native else ())
            ),
        ]
    }


def manage(env: dict[str, str], source: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=source, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise Unavailable(f"manage.py {' '.join(args)} failed: {(result.stderr or result.stdout).strip()[-400:]}")
    return result.stdout


def prepare_data_dir(name: str, upstream_port: int, source: str, *key_args: str) -> tuple[dict[str, str], str]:
    """A fresh data dir with the bench catalogue and one API key (created with `key_args`, e.g.
    limits); returns (env, key)."""
    data_dir = WORK_DIR / name
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = gateway_env(data_dir, source)
    manage(env, source, "migrate", "--noinput")
    path = data_dir / "catalogue.json"
    native = os.path.realpath(source) == os.path.realpath(REPO_DIR)
    path.write_text(json.dumps(catalogue_file(upstream_port, native=native), indent=2))
    manage(env, source, "catalogue", "import", str(path))
    key = manage(env, source, "apikey", "create", "bench", *key_args).strip().splitlines()[-1].strip()
    return env, key


@dataclass
class Gateway(Server):
    name: str = "gateway"
    label: str = "this gateway (uvicorn)"
    note: str = "uvicorn --loop uvloop --http g4fsite.http_protocol:GatewayHttpProtocol, 1 worker, auth on"

    def command(self, port: int) -> list[str]:
        return uvicorn_command("g4fsite.asgi:application", port, self.source())

    def source(self) -> str:
        return SOURCE_DIR

    key_args: tuple[str, ...] = ()

    def start(self, procs, upstream_port: int, cores) -> None:
        env, self.api_key = prepare_data_dir(self.name, upstream_port, self.source(), *self.key_args)
        env.update(self.extra_env())
        self.port = free_port()
        argv = self.command(self.port)
        self.launch(procs, argv, env=env, cores=cores, cwd=self.source(), timeout=60, what="the gateway")

    def extra_env(self) -> dict[str, str]:
        return {}


# Limits no benchmark run reaches: every counter is kept (rpm, tpm, in flight, spend), none refuses.
UNREACHED_LIMITS = (
    "--rpm",
    "1000000000",
    "--tpm",
    "1000000000000",
    "--max-concurrent",
    "100000",
    "--budget",
    "1000000",
)


@dataclass
class GatewayLimited(Gateway):
    """The gateway with a limited key: the file limit store, or Redis with
    BENCH_LIMITS_REDIS_URL=redis://... (a server the caller runs)."""

    name: str = "gateway-limited"
    label: str = "this gateway, limited key (uvicorn)"
    note: str = "uvicorn, 1 worker, auth on, a key with rpm, tpm, max-concurrent and budget"
    key_args: tuple[str, ...] = UNREACHED_LIMITS

    def extra_env(self) -> dict[str, str]:
        redis_url = os.environ.get("BENCH_LIMITS_REDIS_URL", "")
        return {"REDIS_URL": redis_url} if redis_url else {}


@dataclass
class GatewayDaphne(Gateway):
    name: str = "gateway-daphne"
    label: str = "this gateway (daphne)"
    note: str = "daphne, 1 process, auth on"

    def command(self, port: int) -> list[str]:
        daphne = os.path.join(os.path.dirname(sys.executable), "daphne")
        return [daphne, "-b", "127.0.0.1", "-p", str(port), "-v", "0", "g4fsite.asgi:application"]


@dataclass
class GatewayBaseline(Gateway):
    """The gateway from another source tree (`BENCH_BASELINE_SRC`, e.g. `git archive` of an older
    commit), measured interleaved with the current one: before/after figures on a noisy machine."""

    name: str = "gateway-baseline"
    label: str = "this gateway, baseline source (uvicorn)"

    def source(self) -> str:
        path = os.environ.get("BENCH_BASELINE_SRC", "")
        if not path or not os.path.isfile(os.path.join(path, "manage.py")):
            raise Unavailable("set BENCH_BASELINE_SRC to a source tree of the gateway to compare against")
        return path


@dataclass
class GatewayLimitedBaseline(GatewayBaseline):
    """`gateway-limited` from the baseline source tree (`BENCH_BASELINE_SRC`), the same key and store."""

    name: str = "gateway-limited-baseline"
    label: str = "this gateway, limited key, baseline source (uvicorn)"
    key_args: tuple[str, ...] = UNREACHED_LIMITS

    def extra_env(self) -> dict[str, str]:
        return GatewayLimited.extra_env(self)
