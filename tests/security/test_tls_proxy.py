"""Issue 13 item 16: behind a proxy that terminates TLS, the documented environment makes the admin
login work (it was a CSRF 403) and `manage.py check --deploy` clean."""

import secrets
import subprocess

import pytest
import requests

from tests.cli.servers import G4F, MANAGE, ROOT, clean_env

PUBLIC = "gw.example.com"


def production_env() -> dict[str, str]:
    """The production environment docs/security.md documents."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": PUBLIC,
        "G4F_CSRF_TRUSTED_ORIGINS": f"https://{PUBLIC}",
        "G4F_BEHIND_TLS_PROXY": "1",
        "G4F_API_KEY": "production-master-key",
        "G4F_SECRETS_KEY": "Qlh0oN2dmLSL0mGYbY5ZgS4i7Pma8PbW9t2TqJwZQhU=",
    }


def test_check_deploy_is_clean_with_the_documented_environment(tmp_path):
    result = subprocess.run(
        [*MANAGE, "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_env(tmp_path, **production_env()),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout and "WARNINGS" not in result.stderr + result.stdout


@pytest.mark.slow
def test_the_admin_login_works_through_a_tls_proxy(start_server, tmp_path):
    server = start_server([G4F, "api"], env={**production_env(), "ALLOWED_HOSTS": f"{PUBLIC} 127.0.0.1"})
    subprocess.run(
        [*MANAGE, "createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com"],
        cwd=ROOT,
        env=clean_env(server.data_dir, DJANGO_SUPERUSER_PASSWORD="pw-for-tests"),
        check=True,
        capture_output=True,
        timeout=120,
    )
    # What the proxy forwards: the public Host, and that the client spoke https.
    proxied = {"Host": PUBLIC, "X-Forwarded-Proto": "https"}
    login_url = server.url + "/admin/login/"
    page = requests.get(login_url, headers=proxied, timeout=20)
    assert page.status_code == 200
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")
    token = page.cookies["csrftoken"]
    assert "secure" in page.headers["set-cookie"].lower()
    login = requests.post(
        login_url,
        data={"username": "root", "password": "pw-for-tests", "csrfmiddlewaretoken": token, "next": "/admin/"},
        headers={
            **proxied,
            "Origin": f"https://{PUBLIC}",
            "Referer": f"https://{PUBLIC}/admin/login/",
            "Cookie": f"csrftoken={token}",
        },
        allow_redirects=False,
        timeout=20,
    )
    assert login.status_code == 302, login.text[:500]
    assert login.headers["location"] == "/admin/"
    session = login.cookies["sessionid"]
    assert "secure" in login.headers["set-cookie"].lower()
    admin = requests.get(server.url + "/admin/", headers={**proxied, "Cookie": f"sessionid={session}"}, timeout=20)
    assert admin.status_code == 200 and "Log out" in admin.text
    # A plain-http request (the proxy says so) is sent to https.
    plain = requests.get(
        login_url, headers={"Host": PUBLIC, "X-Forwarded-Proto": "http"}, allow_redirects=False, timeout=20
    )
    assert plain.status_code == 301 and plain.headers["location"] == f"https://{PUBLIC}/admin/login/"
