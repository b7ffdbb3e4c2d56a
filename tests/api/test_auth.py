"""Authentication: master key, gateway API keys, revoked keys, both header forms."""

import openai
import pytest
from django.test import override_settings

from catalogue import services
from g4fsite.settings import G4F


def test_open_when_no_key_is_configured(gateway):
    gateway.add_provider("alpha")
    assert gateway.get("/v1/models").status_code == 200


def test_api_keys_are_required_once_one_exists(gateway):
    gateway.add_provider("alpha")
    key, plain = services.api_key_create(name="ci")
    assert key.key_hash != plain and plain not in key.key_hash and plain.startswith(key.prefix)
    with pytest.raises(openai.AuthenticationError) as raised:
        gateway.openai(api_key="wrong").models.list()
    assert raised.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        gateway.openai(api_key="wrong").chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "x"}]
        )
    assert gateway.get("/v1/models").status_code == 401
    assert gateway.openai(api_key=plain).models.list().data
    answer = gateway.openai(api_key=plain).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}]
    )
    assert answer.choices[0].message.content
    # The G4F header form.
    assert gateway.get("/v1/providers", headers={"g4f-api-key": plain}).status_code == 200
    # The key never reaches the upstream.
    assert plain not in str(gateway.fake.requests_for("alpha")[-1].headers)


def test_revoked_keys_fail(gateway):
    gateway.add_provider("alpha")
    services.api_key_create(name="stays")  # auth stays on (see test_revoking_the_last_key_turns_auth_off)
    _, plain = services.api_key_create(name="temp")
    assert gateway.get("/v1/models", headers={"authorization": f"Bearer {plain}"}).status_code == 200
    services.api_key_revoke(name="temp")
    response = gateway.get("/v1/models", headers={"authorization": f"Bearer {plain}"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_master_key(gateway):
    gateway.add_provider("alpha")
    with override_settings(G4F={**G4F, "API_KEY": "master-secret"}):
        assert gateway.get("/v1/models").status_code == 401
        assert gateway.get("/v1/models", headers={"authorization": "Bearer master-secret"}).status_code == 200
        with pytest.raises(openai.AuthenticationError):
            gateway.openai(api_key="nope").chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "x"}]
            )


def test_key_last_used_is_recorded_off_the_request_path(gateway):
    from completions.usage import usage_recorder

    gateway.add_provider("alpha")
    key, plain = services.api_key_create(name="tracked")
    gateway.openai(api_key=plain).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}]
    )
    usage_recorder.flush()
    key.refresh_from_db()
    assert key.last_used_at is not None
    record = key.usage.get()
    assert record.provider == "alpha" and record.success and record.attempts == 1


def test_revoking_the_last_key_turns_auth_off(gateway, admin_session):
    """Auth is on exactly when a master key or an active key exists; the admin says which."""
    gateway.add_provider("alpha")
    keys = f"{gateway.url}/admin/catalogue/apikey/"
    assert "Auth is off" in admin_session.get(keys, timeout=10).text
    services.api_key_create(name="first")
    services.api_key_create(name="second")
    assert gateway.get("/v1/models").status_code == 401
    services.api_key_revoke(name="first")
    assert gateway.get("/v1/models").status_code == 401  # one key is still active
    assert "Auth is on" in admin_session.get(keys, timeout=10).text
    services.api_key_revoke(name="second")
    assert gateway.get("/v1/models").status_code == 200
    assert gateway.openai().chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "x"}])
    assert "Auth is off" in admin_session.get(keys, timeout=10).text
    with override_settings(G4F={**G4F, "API_KEY": "master"}):
        assert gateway.get("/v1/models").status_code == 401
        assert "Auth is on" in admin_session.get(keys, timeout=10).text
