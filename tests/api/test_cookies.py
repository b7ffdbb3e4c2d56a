"""POST /v1/upload_cookies: browser export formats, all-or-nothing storage, limits, auth, and cookies
sent only to providers whose base URL host matches their domain."""

import json
import time

import pytest

from catalogue.selectors import catalogue_snapshot
from completions.cookies.jar import CookieEntry, cookies_matching, cookies_parse, domain_matches
from completions.models import ProviderCookie
from completions.routing.failover import upstream_target as target_for

FUTURE = time.time() + 3600


def editthiscookie(domain="127.0.0.1", name="session", value="s3cret-value", **extra):
    return json.dumps(
        [{"domain": domain, "name": name, "value": value, "path": "/", "expirationDate": FUTURE, **extra}]
    )


NETSCAPE = (
    "# Netscape HTTP Cookie File\n"
    f".example.com\tTRUE\t/\tTRUE\t{int(FUTURE)}\tnid\tnetscape-value\n"
    f"#HttpOnly_api.example.com\tFALSE\t/\tFALSE\t0\tsid\thttponly-value\n"
)
HAR = json.dumps(
    {
        "log": {
            "entries": [
                {
                    "request": {"url": "https://chat.example.org/api", "cookies": [{"name": "har_req", "value": "v1"}]},
                    "response": {"cookies": [{"name": "har_resp", "value": "v2", "expires": "2999-01-01T00:00:00Z"}]},
                }
            ]
        }
    }
)


def upload(gateway, *files, **kwargs):
    return gateway.post("/v1/upload_cookies", files=[("files", f) for f in files], **kwargs)


def test_upload_three_formats_reports_domains_and_counts_never_values(gateway):
    response = upload(
        gateway,
        ("cookies.json", editthiscookie(), "application/json"),
        ("cookies.txt", NETSCAPE, "text/plain"),
        ("session.har", HAR, "application/json"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] == 5
    assert {d["domain"]: d["cookies"] for d in body["domains"]} == {
        "127.0.0.1": 1,
        "api.example.com": 1,
        "chat.example.org": 2,
        "example.com": 1,
    }
    assert [f["cookies"] for f in body["files"]] == [1, 2, 2]
    for secret in ("s3cret-value", "netscape-value", "httponly-value", "v1", "v2"):
        assert f'"{secret}"' not in response.text and secret not in json.dumps(body["domains"])
    stored = ProviderCookie.objects.get(domain="example.com", name="nid")
    assert stored.value == "netscape-value" and stored.secure and stored.expires is not None
    assert ProviderCookie.objects.get(name="sid").expires is None  # 0: a session cookie


def test_reupload_replaces_the_value(gateway):
    upload(gateway, ("a.json", editthiscookie(value="one")))
    upload(gateway, ("b.json", editthiscookie(value="two")))
    assert list(ProviderCookie.objects.values_list("value", flat=True)) == ["two"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"hello": "world"}),
        json.dumps([{"domain": "x.com", "value": "no name"}]),
        json.dumps([{"domain": "bad domain!", "name": "a", "value": "b"}]),
        json.dumps([{"domain": "x.com", "name": "a", "value": "semi;colon"}]),
        "just some text without tabs",
        "",
        "\xff\xfe",
    ],
)
def test_malformed_file_is_400_and_nothing_is_stored(gateway, content):
    response = upload(gateway, ("good.json", editthiscookie()), ("bad.txt", content.encode("latin-1")))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "files" and error["code"] in ("invalid_cookie_file", "invalid_value")
    assert ProviderCookie.objects.count() == 0


def test_no_files_and_wrong_content_type(gateway):
    assert gateway.post("/v1/upload_cookies", files={"other": ("a.json", "[]")}).status_code == 400
    response = gateway.post("/v1/upload_cookies", {"files": []})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported_media_type"


def test_oversize_file_is_413_and_nothing_is_stored(gateway, settings):
    settings.G4F = {**settings.G4F, "COOKIE_MAX_BYTES": 200}
    big = json.dumps([{"domain": "x.com", "name": f"n{i}", "value": "v"} for i in range(50)])
    response = upload(gateway, ("small.json", editthiscookie()), ("big.json", big))
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert ProviderCookie.objects.count() == 0


def test_upload_needs_a_key_when_auth_is_on(gateway, settings):
    settings.G4F = {**settings.G4F, "API_KEY": "master-key"}
    assert upload(gateway, ("c.json", editthiscookie())).status_code == 401
    assert ProviderCookie.objects.count() == 0
    ok = upload(gateway, ("c.json", editthiscookie()), headers={"Authorization": "Bearer master-key"})
    assert ok.status_code == 200


def test_cookies_reach_only_matching_providers_without_a_query(gateway, django_assert_num_queries):
    gateway.add_provider("local", models=["fake-model"])  # base URL host 127.0.0.1
    gateway.add_provider("elsewhere", models=["other-model"], base_url="https://api.example.net/v1")
    body = editthiscookie()[:-1] + "," + editthiscookie(domain="example.com", name="other")[1:]
    assert upload(gateway, ("c.json", body)).json()["stored"] == 2
    snapshot = catalogue_snapshot()
    local = [r for r in snapshot.routes_for_provider("local")][0]
    elsewhere = [r for r in snapshot.routes_for_provider("elsewhere")][0]
    with django_assert_num_queries(0):
        assert target_for(local).cookies == {"session": "s3cret-value"}
        assert target_for(elsewhere).cookies == {}


def test_chat_request_carries_the_cookie_header(gateway):
    gateway.add_provider("local", models=["fake-model"])
    body = editthiscookie()[:-1] + "," + editthiscookie(domain="example.com", name="foreign", value="nope")[1:]
    upload(gateway, ("c.json", body))
    gateway.openai().chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])
    cookie = gateway.fake.requests_for("local")[-1].headers.get("cookie", "")
    assert "session=s3cret-value" in cookie and "foreign" not in cookie


# --- matching rules, without HTTP ------------------------------------------------------------------


def test_domain_matching_follows_rfc_6265():
    assert domain_matches("example.com", "example.com")
    assert domain_matches("api.example.com", "example.com")
    assert not domain_matches("badexample.com", "example.com")
    assert not domain_matches("example.com", "api.example.com")
    assert domain_matches("127.0.0.1", "127.0.0.1")
    assert not domain_matches("1.127.0.0.1", "127.0.0.1")  # not a host name


def test_matching_by_scheme_path_and_expiry():
    jar = {
        "example.com": (
            CookieEntry("example.com", "plain", "1"),
            CookieEntry("example.com", "secure", "2", secure=True),
            CookieEntry("example.com", "v2only", "3", path="/v2"),
        ),
        "api.example.com": (CookieEntry("api.example.com", "plain", "specific"),),
    }
    https = {c.name: c.value for c in cookies_matching(jar, "https://api.example.com/v1")}
    assert https == {"plain": "specific", "secure": "2"}
    http = {c.name for c in cookies_matching(jar, "http://example.com/v2/x")}
    assert http == {"plain", "v2only"}
    assert cookies_matching(jar, "https://example.org/") == ()


def test_json_expiry_forms_and_expired_cookies_are_skipped():
    parsed = cookies_parse(
        json.dumps(
            [
                {"domain": ".a.com", "name": "n1", "value": "v", "expirationDate": 1},
                {"domain": "a.com", "name": "n2", "value": "v", "expires": "2999-01-01T00:00:00Z"},
                {"domain": "a.com", "name": "n3", "value": "v", "session": True, "expirationDate": 5},
            ]
        ).encode(),
        filename="x.json",
    )
    assert [c.domain for c in parsed] == ["a.com"] * 3
    assert parsed[0].expired(time.time()) and not parsed[1].expired(time.time()) and parsed[2].expires is None
