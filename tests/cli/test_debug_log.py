"""`g4f api --debug`: one log line per request with method, path, status, latency, provider and
model, and never a key, a cookie value or a query string."""

import re

import pytest

from tests.cli.servers import G4F

pytestmark = pytest.mark.slow

MASTER = "MASTER-SECRET-7f3a"
UPSTREAM = "UPSTREAM-SECRET-91c2"
SECRETS = [MASTER, UPSTREAM, "WRONG-SECRET-55aa", "COOKIE-SECRET-1", "COOKIE-SECRET-2", "QUERY-SECRET-3"]


def test_debug_log_has_the_requests_and_none_of_the_secrets(start_server, fake):
    server = start_server(
        [G4F, "api", "--debug", "--g4f-api-key", MASTER],
        providers={"Alpha": ["fake-model"]},
        fields={"Alpha": {"api_key": UPSTREAM}},
    )
    cookies = {"Cookie": "sessionid=COOKIE-SECRET-1; csrftoken=COOKIE-SECRET-2"}
    bearer = {"Authorization": f"Bearer {MASTER}", **cookies}
    chat = {"model": "fake-model", "messages": [{"role": "user", "content": "hello"}]}

    assert server.get("/v1/models?api_key=QUERY-SECRET-3", headers=bearer).status_code == 200
    assert server.post("/v1/chat/completions", chat, headers=bearer).status_code == 200
    streamed = server.post("/v1/chat/completions", {**chat, "stream": True}, headers={"g4f-api-key": MASTER, **cookies})
    assert streamed.status_code == 200
    assert (
        server.post("/v1/chat/completions", chat, headers={"Authorization": "Bearer WRONG-SECRET-55aa"}).status_code
        == 401
    )
    # The upstream key was really used, so it was there to leak.
    assert {r.headers.get("authorization") for r in fake.requests_for("Alpha")} == {f"Bearer {UPSTREAM}"}
    server.stop()

    log = server.log()
    lines = [line for line in log.splitlines() if "g4f.access" in line]
    assert re.search(r"GET /v1/models 200 [\d.]+ms provider=- model=- pid=\d+", log), log
    chats = [line for line in lines if re.search(r"POST /v1/chat/completions 200 [\d.]+ms", line)]
    assert len(chats) == 2, lines
    assert all("provider=Alpha model=fake-model" in line for line in chats), chats
    assert any(re.search(r"POST /v1/chat/completions 401 ", line) for line in lines), lines
    for secret in SECRETS:
        assert secret not in log, f"{secret} leaked into the log"
    assert "sessionid" not in log and "api_key=" not in log
