"""Issue 13 item 8: a staff user who may only view cannot read a credential or key hash out of the
admin, neither through changelist lookups (`?api_key__startswith=`, a binary search with `__gt`),
nor search, ordering or the read-only change form."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from catalogue import services
from catalogue.admin_secrets import SECRET_FIELDS, lookup_reaches_secret, secret_exposures
from catalogue.models import ApiKey, Conversation, Provider
from completions.models import ProviderCookie

SECRET = "sk-live-abcdef123456"


@pytest.fixture
def viewer(client, db):
    """The Django test client logged in as staff with only the `view_*` permissions of both apps."""
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["catalogue", "completions"], codename__startswith="view_"
        )
    )
    client.force_login(user)
    return client


@pytest.fixture
def secrets(db):
    provider = Provider.objects.create(name="alpha", base_url="https://api.example.com/v1", api_key=SECRET)
    key, _plain = services.api_key_create(name="team")
    Conversation.objects.create(id="c1", lease_token="lease-token-value")
    ProviderCookie.objects.create(domain="example.com", name="sid", value="cookie-secret-value")
    return provider, key


ORACLES = [
    # (changelist, lookup, a value the secret matches, a value it does not)
    ("catalogue/provider", "api_key__startswith", "sk-live", "sk-test"),
    ("catalogue/provider", "api_key__gt", "sk-l", "sk-m"),
    ("catalogue/provider", "api_key__regex", "^sk-live", "^nope"),
    ("catalogue/apikey", "key_hash__startswith", None, "zz"),
    ("catalogue/usagerecord", "api_key__key_hash__startswith", None, "zz"),
    ("catalogue/conversation", "lease_token__startswith", "lease", "nope"),
    ("catalogue/conversation", "api_key__key_hash__gt", "", "zz"),
    ("catalogue/model", "provider_models__provider__api_key__startswith", "sk-live", "sk-test"),
    ("catalogue/providermodel", "provider__api_key__startswith", "sk-live", "sk-test"),
    ("completions/providercookie", "value__startswith", "cookie-secret", "nope"),
]


@pytest.mark.parametrize(("changelist", "lookup", "hit", "miss"), ORACLES, ids=[o[1] for o in ORACLES])
def test_view_only_staff_cannot_filter_on_secrets(viewer, secrets, changelist, lookup, hit, miss):
    _provider, key = secrets
    hit = key.key_hash[:6] if hit is None else hit
    url = f"/admin/{changelist}/"
    assert viewer.get(url).status_code == 200
    answers = [viewer.get(url, {lookup: value}) for value in (hit, miss)]
    # Refused (Django's DisallowedModelAdminLookup is a 400) whatever the value: no oracle.
    assert [a.status_code for a in answers] == [400, 400]
    assert SECRET.encode() not in answers[0].content


def test_view_only_change_form_shows_the_credential_masked(viewer, secrets):
    provider, _key = secrets
    page = viewer.get(f"/admin/catalogue/provider/{provider.pk}/change/")
    assert page.status_code == 200
    assert SECRET not in page.content.decode() and "sk-…56" in page.content.decode()
    cookie = ProviderCookie.objects.get()
    page = viewer.get(f"/admin/completions/providercookie/{cookie.pk}/change/")
    assert page.status_code == 200 and "cookie-secret-value" not in page.content.decode()


def test_search_and_ordering_do_not_reach_secrets(viewer, secrets):
    provider, key = secrets
    cookie = ProviderCookie.objects.get()
    cases = [
        ("catalogue/provider", provider.pk, "alpha", "sk-live"),
        ("catalogue/apikey", key.pk, "team", key.key_hash[:8]),
        ("completions/providercookie", cookie.pk, "sid", "cookie-secret"),
        ("catalogue/conversation", "c1", "c1", "lease-token"),
    ]
    for changelist, pk, visible, secret in cases:
        link = f"/admin/{changelist}/{pk}/change/"
        assert link in viewer.get(f"/admin/{changelist}/", {"q": visible}).content.decode()
        assert link not in viewer.get(f"/admin/{changelist}/", {"q": secret}).content.decode()
    for index in range(-12, 13):
        page = viewer.get("/admin/catalogue/provider/", {"o": str(index)})
        assert page.status_code == 200 and SECRET not in page.content.decode()


def test_no_registered_admin_names_or_allows_a_secret(rf, db):
    request = rf.get("/")
    request.user = get_user_model()(is_superuser=True, is_staff=True)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("catalogue", "completions"):
            continue
        assert secret_exposures(model_admin) == [], model
        for label, fields in SECRET_FIELDS.items():
            for name in fields:
                if model._meta.label_lower == label:
                    assert not model_admin.lookup_allowed(f"{name}__startswith", "x", request)
                    checked += 1
        assert not any(lookup_reaches_secret(model, f) for f in model_admin.get_search_fields(request))
    assert checked == len(SECRET_FIELDS)
    assert lookup_reaches_secret(ApiKey, "key_hash") and not lookup_reaches_secret(ApiKey, "name__startswith")
