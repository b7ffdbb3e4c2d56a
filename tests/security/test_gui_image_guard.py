"""Issue 13 item 9: markdown in a model reply cannot make the chat page load an image from another
origin. `![](/\\host/x)` passed the old same-origin-path check and browsers read it as `//host/x`.
Driven in headless Chromium against the live gateway; a second loopback server on another port
plays the third party and must receive nothing."""

import http.server
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.gui.test_gui import CHROMIUM, browser, gui, new_page, open_chat, send  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


class ThirdParty(http.server.ThreadingHTTPServer):
    """Records the path of every request; answers each with a 1x1 GIF."""

    daemon_threads = True

    def __init__(self) -> None:
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Recorder)


class _Recorder(http.server.BaseHTTPRequestHandler):
    GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", str(len(self.GIF)))
        self.end_headers()
        self.wfile.write(self.GIF)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def third_party() -> Iterator[ThirdParty]:
    server = ThirdParty()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_reply_markdown_never_loads_an_image_from_another_origin(gui, browser, third_party):  # noqa: F811
    other = f"127.0.0.1:{third_party.server_address[1]}"
    reply = "\n\n".join(
        [
            f"![a](/\\{other}/backslash.gif?chat=secret-text)",
            f"![b](/\\\\{other}/two-backslashes.gif)",
            f"![c](/\\/{other}/mixed.gif)",
            f"![d](<//{other}/protocol-relative.gif>)",
            f"![e](http://{other}/absolute.gif)",
            f"![f](/%5C{other}/encoded.gif)",
            f"[link](/\\{other}/link.html)",
            "![same](/chat/?same-origin-image)",
        ]
    )
    gui.fake.set_option("FakeChat", content=reply, chunks=1, chunk_delay=0.0)
    # CSP bypassed: the page's own img-src would block the third party too; the Markdown guard must hold alone.
    page = new_page(browser, bypass_csp=True)
    open_chat(page, gui.url)
    send(page, "Show me pictures")
    page.wait_for_selector("#stop", state="hidden")
    page.wait_for_function("document.querySelector('article.message.assistant .content img') !== null")
    page.wait_for_timeout(500)  # let any image request leave

    origin = page.evaluate("location.origin")
    sources = page.eval_on_selector_all("#messages img", "imgs => imgs.map(img => img.src)")
    links = page.eval_on_selector_all("#messages a[href]", "links => links.map(a => a.href)")
    assert sources, "the same-origin image is still shown"
    assert all(f"{urlsplit(src).scheme}://{urlsplit(src).netloc}" == origin for src in sources), sources
    assert third_party.paths == []
    # Explicit off-origin URLs are offered as links (a click away), never loaded; a backslash makes no link.
    offered = sorted(href for href in links if other in href)
    assert offered == [f"http://{other}/absolute.gif", f"http://{other}/protocol-relative.gif"]


def test_csp_allows_images_from_this_origin_only(gui, settings):  # noqa: F811
    csp = gui.get("/chat/").headers["content-security-policy"]
    img_src = next(d for d in csp.split(";") if d.strip().startswith("img-src")).split()[1:]
    assert img_src == ["'self'", "data:", "blob:"]
    settings.G4F = {**settings.G4F, "PUBLIC_BASE_URL": "https://gw.example.com/base"}
    csp = gui.get("/chat/").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://gw.example.com;" in csp and "https:;" not in csp
