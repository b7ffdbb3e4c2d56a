"""The several-instance compose file and its nginx config, checked without a Docker engine: services,
start order, health checks, stop grace, variables, the same secrets everywhere, and `nginx -t`."""

import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.nginx import NGINX, SITE_CONFIG, local_site, main_config, nginx_test, upstream_servers

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
GATEWAYS = {name: s for name, s in SERVICES.items() if s.get("command", [])[:2] == ["g4f", "api"]}
REQUIRED_SECRETS = ("G4F_API_KEY", "DJANGO_SECRET_KEY", "G4F_SECRETS_KEY")
GRACEFUL_TIMEOUT_DEFAULT = 30  # G4F_GRACEFUL_TIMEOUT's documented default


def _seconds(duration: str) -> float:
    """A compose duration (`40s`, `1m30s`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(number) * units[unit] for number, unit in parts)


def test_the_services_and_their_start_order():
    assert {"postgres", "redis", "migrate", "nginx"} <= set(SERVICES)
    assert len(GATEWAYS) >= 2
    migrate = SERVICES["migrate"]
    assert migrate["command"][-3:] == ["manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"  # a one-shot: never started again once it succeeded
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name, gateway in GATEWAYS.items():
        assert gateway["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert gateway["depends_on"]["redis"] == {"condition": "service_healthy"}, name
        assert "--workers" in gateway["command"], name
    assert SERVICES["nginx"]["depends_on"] == {name: {"condition": "service_healthy"} for name in GATEWAYS}


def test_every_long_running_service_has_a_health_check():
    for name in ("postgres", "redis", *GATEWAYS):
        check = SERVICES[name]["healthcheck"]["test"]
        assert check[0] == "CMD" and len(check) > 1, name
    for name, gateway in GATEWAYS.items():
        probe = " ".join(gateway["healthcheck"]["test"])
        assert "http://127.0.0.1:1337/healthz" in probe or "http://127.0.0.1:1337/readyz" in probe, name


def test_a_stopping_gateway_gets_more_than_the_graceful_timeout():
    for name, gateway in GATEWAYS.items():
        assert (
            gateway["environment"]["G4F_GRACEFUL_TIMEOUT"] == f"${{G4F_GRACEFUL_TIMEOUT:-{GRACEFUL_TIMEOUT_DEFAULT}}}"
        )
        assert _seconds(gateway["stop_grace_period"]) > GRACEFUL_TIMEOUT_DEFAULT, name


def test_secrets_are_required_and_the_same_on_every_instance():
    environments = [SERVICES["migrate"]["environment"], *(g["environment"] for g in GATEWAYS.values())]
    assert all(environment == environments[0] for environment in environments)
    for secret in REQUIRED_SECRETS:
        assert environments[0][secret].startswith(f"${{{secret}:?"), secret  # `up` refuses without it
    assert "${POSTGRES_PASSWORD:?" in environments[0]["DATABASE_URL"]
    assert (
        environments[0]["DATABASE_URL"].startswith("postgres://")
        and environments[0]["REDIS_URL"] == "redis://redis:6379/0"
    )
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "*" not in environments[0]["ALLOWED_HOSTS"] and "*" not in environments[0]["G4F_CORS_ORIGINS"]


def test_every_setting_comes_from_the_environment_with_a_default_or_a_demand():
    text = (ROOT / "docker-compose.yml").read_text()
    references = re.findall(r"\$\{([^}]*)\}", text)
    assert references
    for reference in references:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*(:-[^}]*|:\?.+)", reference), reference


def test_nginx_gets_the_shipped_config_naming_every_replica():
    nginx = SERVICES["nginx"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert "ports" in nginx and not any("ports" in gateway for gateway in GATEWAYS.values())
    assert sorted(upstream_servers(SITE_CONFIG.read_text())) == sorted(f"{name}:1337" for name in GATEWAYS)


def test_the_nginx_config_streams_and_never_retries_a_request_that_reached_a_gateway():
    directives = dict(re.findall(r"^\s*(proxy_\w+)\s+([^;]+);", SITE_CONFIG.read_text(), flags=re.MULTILINE))
    assert directives["proxy_buffering"] == "off"
    assert directives["proxy_http_version"] == "1.1"
    assert _seconds(directives["proxy_read_timeout"]) >= 300
    assert directives["proxy_next_upstream"].split() == ["error", "timeout"]  # no non_idempotent, no http_5xx


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/test installs it)")
def test_nginx_accepts_the_config(tmp_path):
    site = SITE_CONFIG.read_text()
    replicas = {address: 10000 + index for index, address in enumerate(upstream_servers(site))}
    checked = nginx_test(main_config(tmp_path, local_site(site, replicas, 18080)))
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
