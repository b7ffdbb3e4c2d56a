"""Issue 13 item 2: a gateway without a key does not start on a network address unless the operator
says so (`--no-auth-on-network`, G4F_NO_AUTH_ON_NETWORK=1), and `--cors-origin` is the way to let
another site's pages in."""

import subprocess

import pytest
from django.test import override_settings

from catalogue import services
from g4fsite.api import is_loopback, network_exposure_refusal
from tests.cli.servers import G4F, MANAGE, ROOT, clean_env, data_dir_with

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("command", "host"),
    [([G4F, "api"], "0.0.0.0"), ([G4F, "api"], "::"), ([*MANAGE, "api"], "192.0.2.10")],
    ids=["g4f api 0.0.0.0", "g4f api ::", "manage.py api 192.0.2.10"],
)
def test_a_network_address_without_a_key_refuses_to_start(security_template_dir, tmp_path, command, host):
    data_dir = data_dir_with(security_template_dir, tmp_path / "data")
    result = subprocess.run(
        [*command, "--host", host, "--port", "1"],
        cwd=ROOT,
        env=clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Refusing to serve on {host} without an API key" in result.stderr
    assert "--no-auth-on-network" in result.stderr and "G4F_API_KEY" in result.stderr
    assert "Serving on" not in result.stdout


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["--no-auth-on-network"], {}), ([], {"G4F_NO_AUTH_ON_NETWORK": "1"})],
    ids=["flag", "environment"],
)
def test_the_operator_can_serve_without_a_key_on_purpose(start_server, flags, env):
    server = start_server(
        [G4F, "api", "--host", "0.0.0.0", *flags, "--cors-origin", "https://app.example.com"], env=env
    )
    assert "Clients must reach it by a name in ALLOWED_HOSTS" in server.log()
    assert server.get("/v1/models").status_code == 200
    allowed = server.get("/v1/models", headers={"Origin": "https://app.example.com"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    refused = server.get("/v1/models", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_origin_refused"
    rebound = server.get("/v1/models", headers={"Host": "evil.example"})
    assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "host_not_allowed"


def test_loopback_addresses():
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "192.168.1.5", "gw.example.com"))


@pytest.mark.django_db(transaction=True)
def test_a_key_or_the_flag_lifts_the_refusal(monkeypatch):
    monkeypatch.delenv("G4F_NO_AUTH_ON_NETWORK", raising=False)
    assert network_exposure_refusal("127.0.0.1", None) is None
    assert "Refusing" in network_exposure_refusal("0.0.0.0", None)
    assert network_exposure_refusal("0.0.0.0", True) is None
    monkeypatch.setenv("G4F_NO_AUTH_ON_NETWORK", "1")
    assert network_exposure_refusal("0.0.0.0", None) is None
    monkeypatch.delenv("G4F_NO_AUTH_ON_NETWORK")
    with override_settings(G4F={"API_KEY": "master"}):
        assert network_exposure_refusal("0.0.0.0", None) is None
    services.api_key_create(name="client")
    assert network_exposure_refusal("0.0.0.0", None) is None
