"""Outbound proxies: `--proxy` for every upstream call, and the per-request `proxy` field, which is
refused unless the operator allowed it and listed the proxy.

`ForwardProxy` is a real HTTP forward proxy on 127.0.0.1: it takes absolute-URI requests, records
them, and relays them to their origin.
"""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.cli.servers import G4F

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "through the proxy"}]}


class ForwardProxy:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (method, absolute URI)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def relay(self) -> None:
                proxy.seen.append((self.command, self.path))
                target = urlsplit(self.path)
                if target.scheme != "http" or not target.hostname:
                    self.send_error(400, "absolute http:// URI expected")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="forward-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "ForwardProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def forward_proxy():
    proxy = ForwardProxy().start()
    yield proxy
    proxy.stop()


@pytest.mark.slow
def test_proxy_flag_sends_upstream_calls_through_the_proxy(start_server, forward_proxy, fake):
    server = start_server([G4F, "api", "--proxy", forward_proxy.url], providers={"Alpha": ["fake-model"]})
    reply = server.post("/v1/chat/completions", CHAT)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]
    streamed = server.post("/v1/chat/completions", {**CHAT, "stream": True})
    assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
    upstream = fake.provider_url("Alpha") + "/chat/completions"
    assert forward_proxy.seen == [("POST", upstream), ("POST", upstream)]
    assert len(fake.requests_for("Alpha")) == 2


def test_request_proxy_is_refused_by_default(gateway, forward_proxy):
    gateway.add_provider("Alpha")
    reply = gateway.post("/v1/chat/completions", {**CHAT, "proxy": forward_proxy.url})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "proxy"
    assert "not allowed" in reply.json()["error"]["message"]
    assert forward_proxy.seen == [] and gateway.fake.requests_for("Alpha") == []


@pytest.fixture
def allow_request_proxy(settings, forward_proxy):
    port = forward_proxy.server.server_address[1]
    # host:port form: the same as http://127.0.0.1:<port>.
    settings.G4F = {**settings.G4F, "ALLOW_REQUEST_PROXY": True, "PROXY_ALLOWLIST": [f"127.0.0.1:{port}"]}
    return forward_proxy


def test_request_proxy_not_on_the_allow_list_is_refused(gateway, allow_request_proxy):
    gateway.add_provider("Alpha")
    for proxy in ("http://127.0.0.1:9", "http://10.0.0.1:3128", "socks5://127.0.0.1:1080", "not a url"):
        reply = gateway.post("/v1/chat/completions", {**CHAT, "proxy": proxy})
        assert reply.status_code == 400, proxy
        assert reply.json()["error"]["param"] == "proxy"
    assert allow_request_proxy.seen == [] and gateway.fake.requests_for("Alpha") == []


def test_allowed_request_proxy_carries_the_upstream_call(gateway, allow_request_proxy):
    gateway.add_provider("Alpha")
    upstream = gateway.fake.provider_url("Alpha") + "/chat/completions"
    direct = gateway.post("/v1/chat/completions", CHAT)
    assert direct.status_code == 200 and allow_request_proxy.seen == []
    spelled = allow_request_proxy.url.replace("http://", "HTTP://") + "/"  # same URL, other spelling
    reply = gateway.post("/v1/chat/completions", {**CHAT, "proxy": spelled, "stream": True})
    assert reply.status_code == 200, reply.text
    assert reply.text.rstrip().endswith("data: [DONE]")
    assert allow_request_proxy.seen == [("POST", upstream)]
    assert len(gateway.fake.requests_for("Alpha")) == 2
