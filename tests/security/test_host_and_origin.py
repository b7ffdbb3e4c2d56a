"""Issue 13 item 2: a page on another site, or a domain rebound to this machine (DNS rebinding),
cannot use a gateway that has no key. Real HTTP against the live gateway."""

import socket
import uuid

import pytest
import requests
from django.test import override_settings

from catalogue.models import Conversation


def request(gateway, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, gateway.url + path, timeout=20, **kwargs)


CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/chat/completions", CHAT),
        ("POST", "/api/alpha/chat/completions", CHAT),
        ("POST", "/v1/images/generations", {"prompt": "a cat", "model": "fake-image"}),
        ("POST", "/v1/audio/speech", {"model": "tts-1", "input": "hi", "voice": "alloy"}),
        ("POST", "/v1/upload_cookies", None),
        ("GET", "/v1/models", None),
        ("GET", "/v1/conversations", None),
        ("GET", "/chat/", None),
        ("GET", "/admin/login/", None),
    ],
)
def test_a_host_outside_allowed_hosts_is_refused_everywhere(gateway, method, path, body):
    gateway.add_provider("alpha")
    response = request(gateway, method, path, json=body, headers={"Host": "evil.example"})
    assert_error(response, 400, "host_not_allowed")
    assert "evil.example" in response.json()["error"]["message"]
    assert gateway.fake.requests_for("alpha") == []


def test_loopback_hosts_with_any_port_are_served(gateway):
    gateway.add_provider("alpha")
    for host in ("127.0.0.1", f"127.0.0.1:{gateway.server.port}", f"localhost:{gateway.server.port}"):
        assert gateway.get("/v1/models", headers={"Host": host}).status_code == 200, host


def test_image_urls_are_never_built_from_a_refused_host(gateway):
    gateway.add_provider("alpha", models=("fake-image",), capabilities=("image",))
    refused = gateway.post(
        "/v1/images/generations",
        {"prompt": "a cat", "model": "fake-image", "response_format": "url"},
        headers={"Host": "rebound.attacker.example"},
    )
    assert_error(refused, 400, "host_not_allowed")
    assert "rebound.attacker.example/media" not in refused.text


def test_an_operator_listed_host_is_served(gateway):
    gateway.add_provider("alpha")
    with override_settings(ALLOWED_HOSTS=["gw.example.com", "127.0.0.1"]):
        assert gateway.get("/v1/models", headers={"Host": "gw.example.com"}).status_code == 200
        assert_error(gateway.get("/v1/models", headers={"Host": "localhost"}), 400, "host_not_allowed")


def test_a_websocket_upgrade_with_a_foreign_host_is_closed(gateway):
    request = (
        b"GET /v1/chat/completions HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gateway.server.port), timeout=5) as sock:
        sock.sendall(request)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403"), answer


def test_no_cross_origin_access_by_default(gateway):
    gateway.add_provider("alpha")
    page = {"Origin": "http://evil.example"}
    # A preflight gets no permission, and the request itself is refused before it runs (a browser
    # sends a form POST or a text/plain POST without asking first).
    preflight = request(
        gateway, "OPTIONS", "/v1/chat/completions", headers={**page, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    chat = gateway.post("/v1/chat/completions", CHAT, headers=page)
    assert_error(chat, 403, "cross_origin_refused")
    assert "access-control-allow-origin" not in chat.headers
    assert gateway.fake.requests_for("alpha") == []
    models = gateway.get("/v1/models", headers=page)
    assert_error(models, 403, "cross_origin_refused")
    upload = gateway.post("/v1/upload_cookies", headers=page, files={"files": ("c.json", b"[]", "application/json")})
    assert_error(upload, 403, "cross_origin_refused")


def test_a_cross_origin_page_cannot_delete_conversations(gateway):
    gateway.add_provider("alpha")
    conversation_id = uuid.uuid4().hex
    answer = gateway.post("/v1/chat/completions", {**CHAT, "conversation_id": conversation_id})
    assert answer.status_code == 200, answer.text
    deleted = request(
        gateway, "DELETE", f"/v1/conversations/{conversation_id}", headers={"Origin": "https://evil.example"}
    )
    assert_error(deleted, 403, "cross_origin_refused")
    assert Conversation.objects.filter(id=conversation_id).exists()


def test_same_origin_requests_are_served(gateway):
    gateway.add_provider("alpha")
    origin = {"Origin": gateway.url}
    assert gateway.post("/v1/chat/completions", CHAT, headers=origin).status_code == 200
    assert gateway.get("/v1/models", headers=origin).status_code == 200


def test_an_allowed_origin_gets_cors_headers(gateway):
    gateway.add_provider("alpha")
    app = {"Origin": "https://app.example.com"}
    with override_settings(G4F={"CORS_ORIGINS": ["https://app.example.com"]}):
        chat = gateway.post("/v1/chat/completions", CHAT, headers=app)
        assert chat.status_code == 200, chat.text
        assert chat.headers["access-control-allow-origin"] == "https://app.example.com"
        models = gateway.get("/v1/models", headers=app)
        assert models.status_code == 200
        assert models.headers["access-control-allow-origin"] == "https://app.example.com"
        other = gateway.get("/v1/models", headers={"Origin": "https://other.example"})
        assert_error(other, 403, "cross_origin_refused")
    with override_settings(G4F={"CORS_ORIGINS": ["*"]}):
        anyone = gateway.post("/v1/chat/completions", CHAT, headers={"Origin": "https://other.example"})
        assert anyone.headers["access-control-allow-origin"] == "*"
