"""The admin, used over HTTP as an operator would: a change is seen by the very next API request."""

import re

import requests

from catalogue.models import Provider

USER = [{"role": "user", "content": "x"}]


def _action(session, gateway, action: str, names: list[str]) -> requests.Response:
    ids = [str(pk) for pk in Provider.objects.filter(name__in=names).values_list("id", flat=True)]
    url = f"{gateway.url}/admin/catalogue/provider/"
    return session.post(
        url,
        data={"action": action, "_selected_action": ids, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"referer": url},
        timeout=10,
    )


def test_bulk_status_actions_take_effect_on_the_next_request(gateway, admin_session):
    gateway.add_provider("alpha", priority=5)
    gateway.add_provider("beta", priority=1)
    chat = {"model": "fake-model", "messages": USER}
    assert gateway.post("/v1/chat/completions", chat).json()["provider"] == "alpha"

    assert "marked ignored" in _action(admin_session, gateway, "mark_ignored", ["alpha"]).text
    assert gateway.post("/v1/chat/completions", chat).json()["provider"] == "beta"
    assert "alpha" not in {p["provider"] for p in gateway.get("/v1/providers").json()["data"]}

    _action(admin_session, gateway, "mark_not_working", ["beta"])
    response = gateway.post("/v1/chat/completions", chat)
    assert response.status_code == 503 and response.json()["error"]["code"] == "provider_not_working"

    _action(admin_session, gateway, "mark_working", ["alpha", "beta"])
    assert gateway.post("/v1/chat/completions", chat).json()["provider"] == "alpha"


def test_provider_list_shows_status_priority_and_model_count(gateway, admin_session):
    gateway.add_provider("alpha", models=["m1", "m2", "m3"], priority=7)
    page = admin_session.get(f"{gateway.url}/admin/catalogue/provider/", timeout=10).text
    row = re.search(r"<tr>.*?alpha.*?</tr>", page, re.S).group(0)
    assert "Working" in row and ">7<" in row and ">3<" in row


def _change_form(provider: Provider, admin_session, **fields: str) -> dict:
    """The provider's change form as the admin page submits it, with its one mapping row."""
    mapping = provider.provider_models.get()
    return {
        "name": provider.name,
        "adapter": "openai",
        "base_url": provider.base_url,
        "status": "working",
        "priority": "3",
        "timeout": "60",
        "supports_stream": "on",
        "api_key": "",
        "api_key_env": "",
        "url": "",
        "description": "edited",
        "csrfmiddlewaretoken": admin_session.cookies["csrftoken"],
        "_save": "Save",
        # The inline's existing row must be submitted as well.
        "provider_models-TOTAL_FORMS": "1",
        "provider_models-INITIAL_FORMS": "1",
        "provider_models-0-id": str(mapping.pk),
        "provider_models-0-provider": str(provider.pk),
        "provider_models-0-model": str(mapping.model_id),
        "provider_models-0-upstream_name": mapping.upstream_name,
        "provider_models-0-capabilities": ["chat"],  # checkboxes
        **fields,
    }


def test_credential_is_masked_and_kept_when_left_blank(gateway, admin_session):
    gateway.add_provider("alpha", api_key="sk-very-secret-value")
    provider = Provider.objects.get(name="alpha")
    url = f"{gateway.url}/admin/catalogue/provider/{provider.pk}/change/"
    page = admin_session.get(url, timeout=10).text
    assert "sk-very-secret-value" not in page and "sk-…ue" in page
    form = _change_form(provider, admin_session)
    response = admin_session.post(url, data=form, headers={"referer": url}, timeout=10)
    assert response.status_code == 200 and "was changed successfully" in response.text, response.text[:3000]
    provider.refresh_from_db()
    assert provider.api_key == "sk-very-secret-value" and provider.priority == 3
    assert gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER}).status_code == 200
    assert gateway.fake.requests_for("alpha")[-1].headers["authorization"] == "Bearer sk-very-secret-value"


def test_moving_a_provider_with_a_stored_credential_needs_the_credential_again(gateway, admin_session):
    """A kept credential would follow the provider to its new base URL: whoever moves it must
    type the credential (or clear it); otherwise the form refuses and nothing changes."""
    gateway.add_provider("alpha", api_key="sk-very-secret-value")
    provider = Provider.objects.get(name="alpha")
    url = f"{gateway.url}/admin/catalogue/provider/{provider.pk}/change/"
    admin_session.get(url, timeout=10)
    elsewhere = "https://collector.example/v1"

    response = admin_session.post(url, data=_change_form(provider, admin_session, base_url=elsewhere), timeout=10)
    assert response.status_code == 200 and "enter the credential again" in response.text
    assert "sk-very-secret-value" not in response.text
    provider.refresh_from_db()
    assert provider.base_url != elsewhere and provider.api_key == "sk-very-secret-value"

    form = _change_form(provider, admin_session, base_url=elsewhere, api_key="sk-typed-again")
    response = admin_session.post(url, data=form, headers={"referer": url}, timeout=10)
    assert "was changed successfully" in response.text, response.text[:2000]
    provider.refresh_from_db()
    assert provider.base_url == elsewhere and provider.api_key == "sk-typed-again"
