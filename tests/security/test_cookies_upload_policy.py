"""Issue 13 item 6: uploaded cookies are shared by every key, so only the master key uploads them
(unless the operator allows keys), without auth only loopback clients may; each domain is capped in
count and bytes; the admin lists domains, counts and expiry (never values) and deletes them."""

import json
import time

import pytest
from django.contrib.auth import get_user_model

from catalogue import services
from completions.models import ProviderCookie

FUTURE = time.time() + 3600
USER = [{"role": "user", "content": "hi"}]


def cookies_file(count: int = 1, *, domain: str = "127.0.0.1", prefix: str = "c", value: str = "v") -> str:
    items = [
        {"domain": domain, "name": f"{prefix}{i}", "value": f"{value}{i}", "path": "/", "expirationDate": FUTURE}
        for i in range(count)
    ]
    return json.dumps(items)


def upload(gateway, content: str, **kwargs):
    return gateway.post("/v1/upload_cookies", files=[("files", ("c.json", content, "application/json"))], **kwargs)


def bearer(key: str) -> dict:
    return {"headers": {"Authorization": f"Bearer {key}"}}


def test_a_tenant_key_cannot_upload_shared_cookies(gateway, settings):
    settings.G4F = {**settings.G4F, "API_KEY": "master-key"}
    _, tenant = services.api_key_create(name="tenant")
    refused = upload(gateway, cookies_file(), **bearer(tenant))
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "permission_denied" and "master key" in error["message"]
    assert ProviderCookie.objects.count() == 0
    assert upload(gateway, cookies_file(), **bearer("master-key")).status_code == 200


def test_keys_without_a_master_key_cannot_upload_unless_allowed(gateway, settings):
    _, tenant = services.api_key_create(name="tenant")
    assert upload(gateway, cookies_file(), **bearer(tenant)).status_code == 403
    settings.G4F = {**settings.G4F, "COOKIE_UPLOAD_ALLOW_KEYS": True}
    assert upload(gateway, cookies_file(), **bearer(tenant)).status_code == 200
    assert upload(gateway, cookies_file()).status_code == 401  # still needs a key


def test_without_auth_only_loopback_clients_upload(gateway):
    # The test server trusts X-Forwarded-For from 127.0.0.1, as uvicorn does behind a local proxy.
    remote = upload(gateway, cookies_file(), headers={"X-Forwarded-For": "203.0.113.9"})
    assert remote.status_code == 403 and "only from this machine" in remote.json()["error"]["message"]
    assert ProviderCookie.objects.count() == 0
    assert upload(gateway, cookies_file()).status_code == 200


def test_count_per_domain_is_capped_and_the_error_names_domain_and_limit(gateway, settings):
    settings.G4F = {**settings.G4F, "COOKIE_MAX_PER_DOMAIN": 3}
    assert upload(gateway, cookies_file(2, prefix="a")).status_code == 200
    refused = upload(gateway, cookies_file(2, prefix="b"))  # 4 in all
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "cookie_limit_exceeded" and error["param"] == "files"
    assert "'127.0.0.1'" in error["message"] and "at most 3" in error["message"]
    assert sorted(ProviderCookie.objects.values_list("name", flat=True)) == ["a0", "a1"]
    # Replacing stored cookies does not add to the count.
    assert upload(gateway, cookies_file(2, prefix="a", value="new")).status_code == 200


def test_bytes_per_domain_are_capped(gateway, settings):
    settings.G4F = {**settings.G4F, "COOKIE_MAX_BYTES_PER_DOMAIN": 100}
    refused = upload(gateway, cookies_file(1, value="x" * 200))
    assert refused.status_code == 400 and "at most 100 bytes" in refused.json()["error"]["message"]
    assert ProviderCookie.objects.count() == 0


def test_five_thousand_cookies_for_one_domain_are_refused_and_chat_keeps_working(gateway):
    gateway.add_provider("local", models=["fake-model"])
    refused = upload(gateway, cookies_file(5_000))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "cookie_limit_exceeded"
    assert ProviderCookie.objects.count() == 0
    assert gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER}).status_code == 200


@pytest.fixture
def admin_client(client, gateway):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_admin_lists_domains_without_values_and_deletes_a_domain(gateway, admin_client):
    gateway.add_provider("local", models=["fake-model"])
    two_domains = json.loads(cookies_file(2, value="secret-value-")) + json.loads(
        cookies_file(1, domain="example.com", prefix="e", value="other-secret-")
    )
    assert upload(gateway, json.dumps(two_domains)).status_code == 200
    page = admin_client.get("/admin/completions/providercookie/").content.decode()
    assert "secret-value-" not in page and "other-secret-" not in page
    assert '<tr data-domain="127.0.0.1">' in page and '<tr data-domain="example.com">' in page
    row = page.split('<tr data-domain="127.0.0.1">')[1].split("</tr>")[0]
    assert "<td>2</td>" in row and "<td>0</td>" in row  # two cookies, none expired

    gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER})
    assert "c0=secret-value-0" in gateway.fake.requests_for("local")[-1].headers.get("cookie", "")
    one = ProviderCookie.objects.filter(domain="127.0.0.1").first()
    response = admin_client.post(
        "/admin/completions/providercookie/",
        {"action": "delete_domains", "_selected_action": [str(one.pk)]},
    )
    assert response.status_code == 302
    assert list(ProviderCookie.objects.values_list("domain", flat=True)) == ["example.com"]
    gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER})
    assert "cookie" not in gateway.fake.requests_for("local")[-1].headers
