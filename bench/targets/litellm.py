"""LiteLLM proxy (`litellm[proxy]` from PyPI, pinned, in bench/.venvs/litellm), started offline.

One `openai/<model>` deployment per upstream flavour pointing at the fake upstream, one worker,
a master key (auth on, like the gateway) and no database. `LITELLM_LOCAL_MODEL_COST_MAP` keeps it
from downloading the model price list at start-up.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

from bench.peers import ensure_venv
from bench.procs import free_port
from bench.targets import FLAVOURS, WORK_DIR, Server, upstream_base

LITELLM_REQUIREMENT = "litellm[proxy]==1.108.7"
MASTER_KEY = "sk-bench-litellm"


@dataclass
class LiteLLM(Server):
    name: str = "litellm"
    label: str = "LiteLLM proxy 1.108.7"
    note: str = "litellm --config (openai/ deployments), 1 worker, master key, no database"

    def prepare(self) -> None:
        self.venv = ensure_venv("litellm", [LITELLM_REQUIREMENT])

    def start(self, procs, upstream_port: int, cores) -> None:
        home = WORK_DIR / "litellm-home"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        config = {
            "model_list": [
                {
                    "model_name": model,
                    "litellm_params": {
                        "model": f"openai/{model}",
                        "api_base": upstream_base(upstream_port, flavour),
                        "api_key": "unused",
                    },
                }
                for flavour, (model, _) in FLAVOURS.items()
            ],
            "litellm_settings": {"telemetry": False, "drop_params": True, "request_timeout": 60},
            "general_settings": {"master_key": MASTER_KEY},
        }
        path = home / "config.yaml"
        path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
        env = {
            **os.environ,
            "HOME": str(home),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "DISABLE_SCHEMA_UPDATE": "True",
            "PYTHONUNBUFFERED": "1",
            "LITELLM_LOG": "ERROR",
        }
        for name in ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY"):
            env.pop(name, None)
        self.port = free_port()
        self.api_key = MASTER_KEY
        argv = [
            str(self.venv / "bin" / "litellm"),
            "--config",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--num_workers",
            "1",
        ]
        self.launch(procs, argv, env=env, cores=cores, cwd=home, timeout=120, what="litellm")
