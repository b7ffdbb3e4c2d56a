"""Cookie files whose expiry is out of any date's range used to crash `POST /v1/upload_cookies` with a
500 (OverflowError while storing it). Far-off expiries are kept as the end of year 9999, as browsers cap
them; NaN and infinity are refused with a 400 naming `files`."""

import json

import pytest

from completions.models import ProviderCookie
from tests.openapi import assert_valid

MASTER = "master-key-for-cookies"


@pytest.fixture
def uploader(gateway, settings):
    """POST cookie files with the master key (cookie upload may need it)."""
    settings.G4F = {**settings.G4F, "API_KEY": MASTER}

    def upload(name: str, content: str):
        return gateway.post(
            "/v1/upload_cookies", files=[("files", (name, content))], headers={"Authorization": f"Bearer {MASTER}"}
        )

    return upload


def cookie_json(expiry) -> str:
    return json.dumps([{"domain": "example.com", "name": "sid", "value": "v", "path": "/", "expirationDate": expiry}])


@pytest.mark.parametrize(
    "name,content",
    [
        ("cookies.json", cookie_json(1e30)),
        ("cookies.json", cookie_json(1e300)),
        ("cookies.json", cookie_json("1e30")),
        ("cookies.json", cookie_json(10**20)),
        ("cookies.json", cookie_json("9999-12-31T23:59:59-14:00")),
        ("cookies.txt", f".example.com\tTRUE\t/\tFALSE\t{'9' * 20}\tsid\tv\n"),
        ("cookies.txt", f".example.com\tTRUE\t/\tFALSE\t{'9' * 400}\tsid\tv\n"),
    ],
)
def test_far_future_expiry_is_stored_as_year_9999(uploader, name, content):
    response = uploader(name, content)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1
    assert ProviderCookie.objects.get(name="sid").expires.year == 9999


@pytest.mark.parametrize("expiry", ["nan", "inf", "-inf", "Infinity"])
def test_expiry_that_is_not_a_time_is_refused(uploader, expiry):
    response = uploader("cookies.json", cookie_json(expiry))
    assert response.status_code == 400, response.text
    assert_valid("ErrorResponse", response.json())
    assert response.json()["error"]["param"] == "files"
    assert response.json()["error"]["code"] == "invalid_cookie_file"
    assert ProviderCookie.objects.count() == 0
