"""The guarded fetcher refuses non-public addresses, re-checks redirects and caps size and time."""

import asyncio
import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx2
import pytest
from aiohttp import web

from completions import errors
from completions.upstream import safe_fetch
from completions.upstream.safe_fetch import fetch_public, is_public_address, parse_data_url
from tests.completions import loopback
from tests.completions.fake_transport import FakeTransport, Reply
from tests.completions.loopback import tls_contexts, web_server

PUBLIC_IP = "93.184.215.14"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_HEADERS = {"content-type": "image/png"}


def recording_transport(handler=None) -> FakeTransport:
    """A fake transport that records every request; by default each answer is a PNG."""
    return FakeTransport(handler or (lambda request: Reply(200, content=PNG, headers=PNG_HEADERS)))


def fetch(url, transport, *, max_bytes=1024, timeout=5.0):
    return asyncio.run(fetch_public(url, client=transport, max_bytes=max_bytes, timeout=timeout))


@pytest.fixture
def dns(monkeypatch):
    """Replace name resolution with a table: host -> addresses."""
    table: dict[str, list[str]] = {"images.example.com": [PUBLIC_IP], "cdn.example.net": ["151.101.1.1"]}

    async def resolve(host, port):
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    monkeypatch.setattr(safe_fetch, "resolve_addresses", resolve)
    return table


@pytest.mark.parametrize(
    "address, public",
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::a00:1", False),
        ("ff02::1", False),
    ],
)
def test_is_public_address(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/secret.png",
        "http://127.0.0.1:8000/admin",
        "https://127.0.0.1/",
        "http://localhost/x.png",
        "http://10.0.0.5/x.png",
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/x.png",
        "http://0.0.0.0/x.png",
    ],
)
def test_non_public_address_is_refused_without_a_request(url):
    transport = recording_transport()
    with pytest.raises(errors.InvalidRequest) as caught:
        fetch(url, transport)
    assert caught.value.code == "image_url_refused"
    assert caught.value.status_code == 400
    assert "not a public address" in caught.value.message
    assert transport.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://images.example.com/x.png", "gopher://x/"])
def test_other_schemes_are_refused(url, dns):
    with pytest.raises(errors.InvalidRequest) as caught:
        fetch(url, recording_transport())
    assert caught.value.code == "image_url_refused"


def test_a_name_with_any_private_address_is_refused(dns):
    dns["rebind.example.org"] = [PUBLIC_IP, "192.168.0.10"]
    transport = recording_transport()
    with pytest.raises(errors.InvalidRequest) as caught:
        fetch("https://rebind.example.org/cat.png", transport)
    assert caught.value.code == "image_url_refused"
    assert "192.168.0.10" in caught.value.message
    assert transport.requests == []


def test_public_url_connects_to_the_vetted_address_with_the_host_name_kept(dns):
    transport = recording_transport()
    body, content_type = fetch("https://images.example.com/cats/1.png?size=2", transport)
    assert (body, content_type) == (PNG, "image/png")
    [request] = transport.requests
    assert str(request.url) == f"https://{PUBLIC_IP}/cats/1.png?size=2"
    assert request.headers["host"] == "images.example.com"
    assert request.server_hostname == "images.example.com"


def test_redirect_to_loopback_is_refused(dns):
    def handler(request):
        return Reply(302, headers={"location": "http://127.0.0.1:8080/internal.png"})

    transport = recording_transport(handler)
    with pytest.raises(errors.InvalidRequest) as caught:
        fetch("https://images.example.com/cat.png", transport)
    assert caught.value.code == "image_url_refused"
    assert [request.url.host for request in transport.requests] == [PUBLIC_IP]


def test_redirect_to_a_name_resolving_to_metadata_is_refused(dns):
    dns["metadata.example.org"] = ["169.254.169.254"]

    def handler(request):
        return Reply(301, headers={"location": "http://metadata.example.org/latest/"})

    with pytest.raises(errors.InvalidRequest) as caught:
        fetch("https://images.example.com/cat.png", recording_transport(handler))
    assert caught.value.code == "image_url_refused"


def test_redirect_to_a_public_host_is_followed_and_rechecked(dns):
    def handler(request):
        if request.headers["host"] == "images.example.com":
            return Reply(307, headers={"location": "https://cdn.example.net/real.jpg"})
        return Reply(200, content=b"jpeg", headers={"content-type": "image/jpeg; charset=binary"})

    transport = recording_transport(handler)
    assert fetch("https://images.example.com/cat.jpg", transport) == (b"jpeg", "image/jpeg")
    assert [str(request.url) for request in transport.requests] == [
        f"https://{PUBLIC_IP}/cat.jpg",
        "https://151.101.1.1/real.jpg",
    ]
    assert transport.requests[1].headers["host"] == "cdn.example.net"


def test_relative_redirect_keeps_the_host_name(dns):
    def handler(request):
        if request.url.path == "/old.png":
            return Reply(302, headers={"location": "/new.png"})
        return Reply(200, content=PNG, headers={"content-type": "image/png"})

    transport = recording_transport(handler)
    fetch("http://images.example.com/old.png", transport)
    assert [request.headers["host"] for request in transport.requests] == ["images.example.com"] * 2
    assert str(transport.requests[1].url) == f"http://{PUBLIC_IP}/new.png"


def test_too_many_redirects_are_refused(dns):
    def handler(request):
        return Reply(302, headers={"location": "/again"})

    transport = recording_transport(handler)
    with pytest.raises(errors.InvalidRequest) as caught:
        fetch("http://images.example.com/start", transport)
    assert caught.value.code == "image_url_refused"
    assert len(transport.requests) == safe_fetch.MAX_REDIRECTS + 1


def test_declared_oversize_body_is_refused(dns):
    def handler(request):
        return Reply(200, content=b"x" * 2048, headers={"content-type": "image/png"})

    with pytest.raises(errors.InvalidRequest) as caught:
        fetch("http://images.example.com/big.png", recording_transport(handler), max_bytes=1024)
    assert caught.value.code == "image_url_too_large"
    assert caught.value.status_code == 400


def test_streamed_oversize_body_is_cut_off(dns):
    sent = []

    async def endless():
        for _ in range(100):
            sent.append(1)
            yield b"y" * 512

    def handler(request):
        return Reply(200, chunks=endless, headers={"content-type": "image/png"})

    with pytest.raises(errors.InvalidRequest) as caught:
        fetch("http://images.example.com/big.png", recording_transport(handler), max_bytes=1024)
    assert caught.value.code == "image_url_too_large"
    assert len(sent) < 10


def test_error_status_unknown_host_and_connection_failure_are_unreachable(dns):
    def not_found(request):
        return Reply(404, content=b"nope")

    def refuse(request):
        raise httpx2.ConnectError("connection refused")

    for url, transport in [
        ("http://images.example.com/missing.png", recording_transport(not_found)),
        ("http://no-such-host.example/x.png", recording_transport()),
        ("http://images.example.com/x.png", recording_transport(refuse)),
    ]:
        with pytest.raises(errors.InvalidRequest) as caught:
            fetch(url, transport)
        assert caught.value.code == "image_url_unreachable", url


def test_slow_server_times_out(dns):
    async def slow(request):
        await asyncio.sleep(5)
        return Reply(200, content=PNG)

    with pytest.raises(errors.InvalidRequest) as caught:
        fetch("http://images.example.com/slow.png", recording_transport(slow), timeout=0.05)
    assert caught.value.code == "image_url_unreachable"
    assert "did not answer within" in caught.value.message


def test_real_server_on_loopback_is_never_contacted(transport_class):
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/secret.png"
        transport = transport_class(max_connections=4)
        with pytest.raises(errors.InvalidRequest) as caught:
            fetch(url, transport)
        assert caught.value.code == "image_url_refused"
        assert hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_pinned_https_fetch_checks_the_certificate_against_the_host_name(monkeypatch, tmp_path, transport_class):
    """Through the production transport, over real TLS on 127.0.0.1 (playing a public server): the
    request goes to the vetted address, and the certificate, issued to the name only, must match the
    name: a second name on the same address is refused, not served over the first name's connection."""
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.host, request.path))
        return web.Response(body=PNG, content_type="image/png")

    async def resolve(host, port):
        return ["127.0.0.1"]

    monkeypatch.setattr(safe_fetch, "resolve_addresses", resolve)
    monkeypatch.setattr(safe_fetch, "is_public_address", lambda address: True)
    server_tls, client_tls = tls_contexts("images.example.com", str(tmp_path))

    async def scenario():
        async with web_server(handler, "images.example.com", server_tls) as base:
            async with transport_class(max_connections=4, ssl_context=client_tls) as transport:
                fetched = await fetch_public(base + "/cat.png", client=transport, max_bytes=1024, timeout=5)
                other = base.replace("images.example.com", "other.example.com") + "/cat.png"
                with pytest.raises(errors.InvalidRequest) as caught:
                    await fetch_public(other, client=transport, max_bytes=1024, timeout=5)
        return base, fetched, caught.value

    base, fetched, refused = loopback.run(scenario())
    assert fetched == (PNG, "image/png")
    assert seen == [(base.removeprefix("https://"), "/cat.png")]
    assert refused.code == "image_url_unreachable"


def test_parse_data_url():
    assert parse_data_url("data:image/png;base64,iVBORw0KGgo=") == ("image/png", "iVBORw0KGgo=")
    assert parse_data_url("data:text/plain,hi%20there") == ("text/plain", "aGkgdGhlcmU=")
    for bad in ("data:image/png;base64", "data:image/png;base64,@@@", "http://x/"):
        with pytest.raises(errors.ValidationFailed):
            parse_data_url(bad)
