"""Issue 13 item 7: an upstream's error text never carries a credential out of the gateway: not to
the caller, not to other callers (the "not working" message), not into usage rows, logs or the admin.

The fake upstream answers 401 echoing the `Authorization` header it was sent, as some upstreams do."""

import json
import logging
import time

import pytest

from catalogue.models import Provider, UsageRecord
from completions.cookies.jar import cookies_parse, cookies_store
from completions.routing.health import health_board
from completions.usage import usage_recorder

KEY = "live-0123456789abcdef-operators-key"  # not shaped like any known token: only its value tells
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def paid(gateway, settings):
    settings.G4F = {**settings.G4F, "AUTH_FAILURE_THRESHOLD": 3, "AUTH_FAILURE_COOLDOWN": 600.0}
    gateway.add_provider("paid", api_key=KEY)
    return gateway


def everything_the_gateway_kept(caplog) -> str:
    """Usage rows, the provider row and the log, as one text to search."""
    usage_recorder.flush()
    assert health_board.writer.wait_idle(10)
    provider = Provider.objects.get(name="paid")
    usage = " ".join(UsageRecord.objects.values_list("error", flat=True))
    return " ".join([usage, provider.status_reason, provider.last_error, caplog.text])


def test_echoed_credential_reaches_no_caller_row_or_log(paid, caplog):
    caplog.set_level(logging.DEBUG)
    paid.fake.set_fault("paid", "401")
    for _ in range(3):
        answer = paid.post("/v1/chat/completions", CHAT)
        assert answer.status_code == 502 and answer.json()["error"]["code"] == "provider_auth_failed"
        assert KEY not in answer.text and "Bearer [redacted]" in answer.json()["error"]["message"]
    assert paid.fake.requests_for("paid")[0].headers["authorization"] == f"Bearer {KEY}"  # it was sent
    other = paid.post("/v1/chat/completions", CHAT)  # the provider is now marked not working
    assert other.status_code == 503 and "credential" in other.json()["error"]["message"]
    assert KEY not in other.text and "Incorrect API key" not in other.text
    kept = everything_the_gateway_kept(caplog)
    assert "Incorrect API key provided: Bearer [redacted]" in kept and KEY not in kept


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-Abc123Def456Ghi789",  # someone's OpenAI key
        "AIzaSyD-0123456789abcdefghijklmnopqrstu",  # a Google key
        "Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature",
    ],
)
def test_token_shaped_secrets_in_upstream_words_are_redacted(paid, secret):
    paid.fake.set_fault("paid", "500", message=f"upstream trace: used {secret} for the call", times=1)
    answer = paid.post("/v1/chat/completions", CHAT)
    assert answer.status_code == 502
    message = answer.json()["error"]["message"]
    assert "upstream trace" in message and "[redacted]" in message
    assert secret.split()[-1] not in answer.text


def test_cookie_values_sent_to_the_provider_are_redacted(paid):
    value = "cookie-session-value-98765"
    cookie = {
        "domain": "127.0.0.1",
        "name": "session",
        "value": value,
        "path": "/",
        "expirationDate": time.time() + 600,
    }
    cookies_store(cookies=cookies_parse(json.dumps([cookie]).encode(), filename="cookies.json"))
    paid.fake.set_fault("paid", "500", message=f"bad session cookie: session={value}", times=1)
    answer = paid.post("/v1/chat/completions", CHAT)
    assert answer.status_code == 502
    assert value in paid.fake.requests_for("paid")[-1].headers.get("cookie", "")  # the cookie was sent
    assert value not in answer.text and "[redacted]" in answer.json()["error"]["message"]
