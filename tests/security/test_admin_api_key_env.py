"""Issue 13 item 14: `api_key_env` names only a credential variable (`*_API_KEY`, `*_TOKEN`), never
one of the gateway's own secrets; only superusers set it in the admin; the catalogue import refuses
a bad name; and the snapshot never reads a forbidden variable even when a row holds one."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from catalogue import services
from catalogue.cache import catalogue_invalidate
from catalogue.models import Provider, api_key_env_problem

FORBIDDEN = ["DJANGO_SECRET_KEY", "G4F_API_KEY", "G4F_SECRETS_KEY", "G4F_METRICS_TOKEN", "DATABASE_URL", "REDIS_URL"]
USER = [{"role": "user", "content": "hi"}]


def provider_form(**fields) -> dict:
    return {
        "name": "acme",
        "adapter": "openai",
        "base_url": "https://api.acme.example/v1",
        "status": "working",
        "priority": "0",
        "timeout": "60",
        "supports_stream": "on",
        "api_key": "",
        "api_key_env": "",
        "url": "",
        "description": "",
        "provider_models-TOTAL_FORMS": "0",
        "provider_models-INITIAL_FORMS": "0",
        "_save": "Save",
        **fields,
    }


@pytest.fixture
def staff_client(client, db):
    """Staff with every catalogue permission, but not a superuser."""
    user = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="catalogue"))
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.mark.parametrize("name", [*FORBIDDEN, "HOME", "PATH", "openai_api_key", "OPENAI_API_KEY ", "X_KEY"])
def test_only_credential_names_that_are_not_the_gateways_own(name):
    assert api_key_env_problem(name) is not None


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "HF_TOKEN", "GROQ_API_KEY", "MY_PROVIDER_2_TOKEN"])
def test_usual_provider_variables_are_allowed(name):
    assert api_key_env_problem(name) is None


def test_staff_who_is_not_a_superuser_cannot_set_the_variable(staff_client):
    response = staff_client.post("/admin/catalogue/provider/add/", provider_form(api_key_env="OPENAI_API_KEY"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Provider.objects.get(name="acme").api_key_env == ""

    Provider.objects.filter(name="acme").update(api_key_env="OPENAI_API_KEY")
    provider = Provider.objects.get(name="acme")
    page = staff_client.get(f"/admin/catalogue/provider/{provider.pk}/change/").content.decode()
    assert 'name="api_key_env"' not in page and 'name="base_url"' not in page
    changed = provider_form(api_key_env="ACME_API_KEY", base_url="https://attacker.example/v1", description="x")
    response = staff_client.post(f"/admin/catalogue/provider/{provider.pk}/change/", changed)
    assert response.status_code == 302
    provider.refresh_from_db()
    assert (provider.api_key_env, provider.base_url, provider.description) == (
        "OPENAI_API_KEY",
        "https://api.acme.example/v1",
        "x",
    )


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "G4F_API_KEY", "DATABASE_URL"])
def test_superuser_cannot_name_a_gateway_secret(superuser_client, name):
    response = superuser_client.post("/admin/catalogue/provider/add/", provider_form(api_key_env=name))
    assert response.status_code == 200 and "never sent to a provider" in response.content.decode()
    assert not Provider.objects.exists()
    response = superuser_client.post("/admin/catalogue/provider/add/", provider_form(api_key_env="ACME_API_KEY"))
    assert response.status_code == 302 and Provider.objects.get().api_key_env == "ACME_API_KEY"


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "G4F_METRICS_TOKEN", "HOME"])
def test_catalogue_import_refuses_the_name(db, name):
    entry = {"name": "acme", "base_url": "https://api.acme.example/v1", "api_key_env": name}
    with pytest.raises(services.CatalogueError, match="api_key_env"):
        services.catalogue_import(data={"providers": [entry]})
    assert not Provider.objects.exists()


def test_snapshot_never_sends_a_forbidden_variable(gateway, monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "django-secret-do-not-send")
    monkeypatch.setenv("ACME_API_KEY", "acme-upstream-key")
    gateway.add_provider("acme", api_key_env="ACME_API_KEY")
    assert gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER}).status_code == 200
    assert gateway.fake.requests_for("acme")[-1].headers["authorization"] == "Bearer acme-upstream-key"

    Provider.objects.filter(name="acme").update(api_key_env="DJANGO_SECRET_KEY")  # no validation on update()
    catalogue_invalidate()
    gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER})
    sent = [r.headers.get("authorization", "") for r in gateway.fake.requests_for("acme")]
    assert len(sent) == 2 and "django-secret-do-not-send" not in sent[-1]
