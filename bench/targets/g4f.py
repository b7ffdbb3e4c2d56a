"""g4f's own API server (`g4f[api]` from PyPI, pinned, in bench/.venvs/g4f), started offline.

It runs `g4f api --no-gui --disable-pa-auto-download`, one worker, no auth (g4f's default), with its
cache directory (`G4F_CACHE_DIR`) holding a pre-filled live-provider list for today (only its
"default" entry, pointed at the fake upstream): g4f
otherwise downloads https://g4f.dev/dist/js/providers.json at start-up and dies without internet.
Each request names the upstream by base URL in `provider`, which g4f turns into a custom
OpenAI-compatible provider.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime

from bench.peers import ensure_venv
from bench.procs import free_port
from bench.targets import WORK_DIR, Server, upstream_base

G4F_REQUIREMENT = "g4f[api]==8.8.6"


@dataclass
class G4F(Server):
    name: str = "g4f"
    label: str = "g4f API 8.8.6"
    note: str = "g4f api --no-gui --disable-pa-auto-download, 1 worker (uvicorn), provider = upstream base URL"
    upstream_port: int = 0

    def prepare(self) -> None:
        self.venv = ensure_venv("g4f", [G4F_REQUIREMENT])

    def start(self, procs, upstream_port: int, cores) -> None:
        self.upstream_port = upstream_port
        home = WORK_DIR / "g4f-home"
        shutil.rmtree(home, ignore_errors=True)
        cache = home / "cache"
        listing = cache / ".models" / datetime.today().strftime("%Y-%m-%d") / "providers.json"
        listing.parent.mkdir(parents=True)
        # g4f builds its "G4FSpace" provider from the list's "default" entry at import time.
        fake = upstream_base(upstream_port, "fast")
        listing.write_text(json.dumps({"providers": {"default": {"baseUrl": fake}}, "defaultModels": {"default": ""}}))
        env = {**os.environ, "HOME": str(home), "G4F_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
        self.port = free_port()
        argv = [
            str(self.venv / "bin" / "g4f"),
            "api",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--port",
            str(self.port),
            "--no-gui",
            "--disable-pa-auto-download",
            "--no-access-log",
            "--workers",
            "1",
        ]
        self.launch(procs, argv, env=env, cores=cores, cwd=home, timeout=90, what="g4f api")

    def body_extra(self, flavour: str) -> dict:
        return {"provider": upstream_base(self.upstream_port, flavour)}
