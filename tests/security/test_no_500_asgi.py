"""Requests that never reach a view used to end in a 500 and a traceback: a static file path that climbs
out of its directory (Django's SuspiciousFileOperation) and a WebSocket upgrade, which no route serves.
Now: a 404 in the OpenAI shape, and a WebSocket denial (HTTP 403) with nothing logged as an error."""

import http.client
import json
import logging

import pytest

from tests.openapi import assert_valid


def raw_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET `path` exactly as written (http.client does not normalise it); the status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def errors_logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "path",
    [
        "/static/gui/%2e%2e/%2e%2e/%2e%2e/settings.py",
        "/static/gui/%00.js",
        "/static/gui/" + "a" * 5000,
        "/static/%2e%2e/%2e%2e/manage.py",
        "/static/gui/..%2f..%2fmanage.py",
        "/static/gui/%2e%2e%5c%2e%2e%5cmanage.py",
        "/static//etc/passwd",
    ],
)
def test_static_path_out_of_its_directory_is_404_in_openai_shape(gateway, caplog, path):
    status, body = raw_get(gateway.server.port, path)
    assert status == 404, body[:300]
    assert_valid("ErrorResponse", json.loads(body))
    assert not errors_logged(caplog)


def test_static_files_are_still_served(gateway):
    response = gateway.get("/static/gui/chat.js")
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]


@pytest.mark.parametrize("path", ["/", "/v1/chat/completions", "/ws", "/static/gui/chat.js", "/v1/models"])
def test_websocket_upgrade_is_denied_without_an_error(gateway, caplog, path):
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    status, body = raw_get(gateway.server.port, path, upgrade)
    assert status == 403, body[:300]
    assert not errors_logged(caplog)
