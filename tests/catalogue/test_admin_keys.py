"""An API key's admin page through real HTTP: its limits, spend against its budget and its recent
usage (the last 24 hours by model and provider, the last requests) from rows written by real
requests, formatted, and never a credential."""

import re

import pytest

from catalogue import services
from catalogue.formatting import format_ms
from catalogue.models import ApiKey, UsageRecord
from completions.usage import usage_recorder

HI = [{"role": "user", "content": "hi"}]  # 1 prompt token
RAW_FLOAT = re.compile(r"\d\.\d{5,}")


@pytest.fixture(autouse=True)
def limits_file(settings, tmp_path):
    """A fresh limit store per test (key ids restart with each test database)."""
    settings.G4F = {**settings.G4F, "LIMITS_FILE": str(tmp_path / "key-limits.bin"), "LIMITS_STORE": "file"}


def cells(html: str, table_id: str) -> list[list[str]]:
    """The body rows of the table `table_id`, each a list of cell texts."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_key_page_shows_limits_spend_and_recent_usage(gateway, admin_session):
    for name in ("alpha", "beta"):
        gateway.fake.set_option(name, content="one two three four")  # 4 completion tokens
    services.catalogue_import(
        data={
            "providers": [
                {
                    "name": "alpha",
                    "base_url": gateway.fake.provider_url("alpha"),
                    "models": [{"name": "fake-model", "price": {"input": 2000, "output": 3000}}],
                },
                {
                    "name": "beta",
                    "base_url": gateway.fake.provider_url("beta"),
                    "models": [{"name": "other-model", "price": {"input": 500, "output": 1000}}],
                },
            ]
        }
    )
    key, plain = services.api_key_create(name="team", rpm=40, tpm=9000, budget=5, budget_period="day")
    _, other = services.api_key_create(name="other")
    client = gateway.openai(api_key=plain)
    for _ in range(3):  # 2000e-6 + 4 * 3000e-6 = $0.0140 each
        assert client.chat.completions.create(model="fake-model", messages=HI).choices
    assert client.chat.completions.create(model="other-model", messages=HI).choices  # $0.0045
    assert gateway.openai(api_key=other).chat.completions.create(model="other-model", messages=HI).choices
    usage_recorder.flush()
    rows = list(UsageRecord.objects.filter(api_key=key).order_by("-created_at"))
    assert [row.cost for row in rows] == pytest.approx([0.0045, 0.014, 0.014, 0.014])

    page = admin_session.get(f"{gateway.url}/admin/catalogue/apikey/{key.pk}/change/", timeout=10)
    assert page.status_code == 200
    html = page.text
    assert 'name="rpm" value="40"' in html and 'name="tpm" value="9000"' in html
    assert "$0.0465 of $5.00" in html  # 3 * 0.014 + 0.0045, against the day's budget

    by_route = cells(html, "key-usage-24h")
    assert by_route == [
        ["fake-model", "alpha", "3", "0 (0%)", "15", "$0.0420", by_route[0][6]],
        ["other-model", "beta", "1", "0 (0%)", "5", "$0.0045", by_route[1][6]],
    ]
    assert all(re.fullmatch(r"\d+(\.\d+)? ms", row[6]) for row in by_route), by_route

    recent = cells(html, "key-usage-recent")
    assert [row[1:] for row in recent] == [
        ["chat", row.model, row.provider, "200", "5", f"${row.cost:.4f}", format_ms(row.latency_ms)] for row in rows
    ]  # the other key's request is not listed
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0]) for row in recent)

    assert not RAW_FLOAT.search(html.split('id="key-usage"')[1])
    stored = ApiKey.objects.get(pk=key.pk)
    for secret in (plain, other, stored.key_hash):
        assert secret not in html


def test_key_page_without_usage_says_so(gateway, admin_session):
    key, _ = services.api_key_create(name="idle")
    html = admin_session.get(f"{gateway.url}/admin/catalogue/apikey/{key.pk}/change/", timeout=10).text
    assert "No requests in the last 24 hours." in html and "No requests recorded." in html
    add = admin_session.get(f"{gateway.url}/admin/catalogue/apikey/add/", timeout=10).text
    assert 'id="key-usage"' not in add
