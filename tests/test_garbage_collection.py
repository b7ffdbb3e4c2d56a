"""The collector as the server runs it: loading the ASGI application freezes start-up's objects and
raises the young generation's threshold (g4fsite.garbage_collection)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GC_STATE = "import gc, json; print(json.dumps([gc.get_threshold()[0], gc.get_freeze_count()]))"


def gc_state_after(imports: str, tmp_path) -> tuple[int, int]:
    env = {**os.environ, "G4F_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "g4fsite.settings"}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", f"{imports}\n{GC_STATE}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    threshold, frozen = json.loads(result.stdout.strip().splitlines()[-1])
    return threshold, frozen


def test_loading_the_application_freezes_startup_and_raises_the_young_threshold(tmp_path):
    from g4fsite.garbage_collection import YOUNG_THRESHOLD

    default_threshold, none_frozen = gc_state_after("import django; django.setup()", tmp_path)
    threshold, frozen = gc_state_after("from g4fsite.asgi import application", tmp_path)

    assert (default_threshold, none_frozen) == (700, 0)  # Django alone leaves CPython's defaults
    assert threshold == YOUNG_THRESHOLD > default_threshold
    assert frozen > 50_000  # Django, the catalogue and the application's modules
