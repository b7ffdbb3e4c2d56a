"""The operator's side of key limits: `manage.py apikey` flags (a subprocess, as an operator runs it)
and the admin key form (real HTTP to the live gateway's admin)."""

import re

from catalogue.models import ApiKey
from tests.catalogue.test_commands import manage  # noqa: F401  (the subprocess fixture)


def test_apikey_create_update_list_with_limits(manage):  # noqa: F811
    created = manage(
        "apikey",
        "create",
        "team",
        "--rpm",
        "50",
        "--tpm",
        "9000",
        "--max-concurrent",
        "3",
        "--budget",
        "12.5",
        "--budget-period",
        "day",
        "--models",
        "gpt-4o-mini,4o",
        "--providers",
        "OpenAI",
        "--expires",
        "2030-01-02",
    ).stdout
    plain = created.strip().splitlines()[-1]
    assert plain.startswith("sk-g4f-") and " " not in plain
    listing = manage("apikey", "list").stdout
    line = next(row for row in listing.splitlines() if row.startswith("team"))
    for part in ("rpm 50", "tpm 9000", "concurrent 3", "budget $12.5/day", "models gpt-4o-mini,4o", "providers OpenAI"):
        assert part in line, line
    assert "expires 2030-01-02" in line and "$0.0000" in line and "never" in line
    assert plain not in listing
    manage("apikey", "update", "team", "--clear-rpm", "--tpm", "none", "--budget-period", "total")
    line = next(row for row in manage("apikey", "list").stdout.splitlines() if row.startswith("team"))
    assert "rpm" not in line and "tpm" not in line and "budget $12.5/total" in line
    for bad in (("--rpm", "-1"), ("--budget", "lots"), ("--expires", "soon"), ("--budget-period", "week")):
        refused = manage("apikey", "update", "team", *bad, check=False)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
    missing = manage("apikey", "update", "nobody", "--rpm", "5", check=False)
    assert missing.returncode != 0 and "No key named" in missing.stderr


def test_admin_key_form_sets_limits(gateway, admin_session):
    add = f"{gateway.url}/admin/catalogue/apikey/add/"
    page = admin_session.get(add, timeout=10).text
    for field in ("rpm", "tpm", "max_concurrent", "budget", "budget_period", "allowed_models", "expires_at"):
        assert f'name="{field}' in page, field
    data = {
        "csrfmiddlewaretoken": admin_session.cookies["csrftoken"],
        "name": "web",
        "rpm": "7",
        "budget": "3.5",
        "budget_period": "month",
        "allowed_models": "fake-model, other",
        "allowed_providers": "",
        "_save": "Save",
    }
    answer = admin_session.post(add, data=data, timeout=10)
    assert answer.status_code == 200 and re.search(r"sk-g4f-[\w-]{20,}", answer.text), answer.text[-2000:]
    key = ApiKey.objects.get(name="web")
    assert (key.rpm, str(key.budget), key.allowed_models, key.allowed_providers) == (
        7,
        "3.5000",
        ["fake-model", "other"],
        [],
    )
    listing = admin_session.get(f"{gateway.url}/admin/catalogue/apikey/", timeout=10).text
    assert "rpm 7" in listing and "of $3.50" in listing
    change = f"{gateway.url}/admin/catalogue/apikey/{key.pk}/change/"
    admin_session.get(change, timeout=10)
    data.update(rpm="", tpm="100", csrfmiddlewaretoken=admin_session.cookies["csrftoken"])
    data.pop("name")
    assert admin_session.post(change, data=data, timeout=10).status_code == 200
    key.refresh_from_db()
    assert key.rpm is None and key.tpm == 100
