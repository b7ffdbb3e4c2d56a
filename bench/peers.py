"""Virtual environments for the peers (LiteLLM, g4f) and tools (py-spy), created under bench/.venvs.

Each venv is created with the Python running the harness and filled from PyPI with pinned
requirements; a marker file records what was installed, so later runs reuse it at once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.targets import VENVS_DIR, Unavailable


def ensure_venv(name: str, requirements: list[str], *, timeout: float = 1200) -> Path:
    """The venv `bench/.venvs/<name>` with `requirements` installed; raises Unavailable if it cannot be."""
    venv = VENVS_DIR / name
    marker = venv / ".bench-installed"
    wanted = "\n".join(requirements)
    if marker.exists() and marker.read_text() == wanted:
        return venv
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    log = VENVS_DIR / f"{name}.install.log"
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        print(f"installing {' '.join(requirements)} into {venv} (log: {log})", file=sys.stderr, flush=True)
        with open(log, "wb") as handle:
            subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", *requirements],
                check=True,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"installing {' '.join(requirements)} took over {timeout:.0f} s (see {log})") from None
    except (subprocess.CalledProcessError, OSError) as exc:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        raise Unavailable(f"could not install {' '.join(requirements)}: {exc}; {' / '.join(tail)}") from None
    marker.write_text(wanted)
    return venv
