"""The shipped deployment files keep the safe defaults: compose needs a key and narrows the hosts,
the image's data directory is private, and every way to serve runs `g4f api` (uvicorn)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_requires_a_key_and_lists_hosts():
    compose = yaml.safe_load((ROOT / "docker-compose.single.yml").read_text())
    environment = compose["services"]["g4f"]["environment"]
    assert environment["G4F_API_KEY"].startswith("${G4F_API_KEY:?")  # `docker compose up` fails without it
    assert "*" not in environment["ALLOWED_HOSTS"]
    assert "*" not in environment["G4F_CORS_ORIGINS"]
    assert compose["services"]["g4f"]["command"][:2] == ["g4f", "api"]


def test_the_image_serves_g4f_api_from_a_private_data_directory():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["g4f", "api", "--host", "0.0.0.0"' in dockerfile
    assert "chmod 700 /data" in dockerfile
    assert "NO_AUTH_ON_NETWORK" not in dockerfile.split("CMD", 1)[1]  # open serving is never the default


def test_serve_script_ends_in_g4f_api():
    last = [line for line in (ROOT / "scripts" / "serve").read_text().splitlines() if line.strip()][-1]
    assert last.startswith("exec .venv/bin/g4f api ")
