"""The chat page in a real headless browser (Debian's Chromium driven by Playwright) against the
live gateway and the fake upstream: load, pick a model, watch a reply stream in, stop one, switch
conversations, generate an image, enter an API key. Screenshots go to test-artifacts/.

Chromium comes from scripts/system-packages.txt (`/usr/bin/chromium`); Playwright launches it by
`executable_path`, never `playwright install`.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MARKDOWN = "Here is **bold** text and code:\n\n```python\nprint('hi')\n```\n\nThe end of a long answer."

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (scripts/test installs it)"
    ),
]


@pytest.fixture
def gui(gateway, settings) -> Iterator:
    """The live gateway with the GUI on and a streaming chat provider plus an image provider."""
    settings.G4F = {**settings.G4F, "GUI": True}
    gateway.add_provider("FakeChat", models=["fake-model"], capabilities=("chat",))
    gateway.add_provider("FakeImages", models=["fake-image"], capabilities=("image",))
    yield gateway


@pytest.fixture
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, *, bypass_csp: bool):
    """A page whose page errors and console errors are collected in `page.problems`."""
    page = browser.new_page(viewport={"width": 1200, "height": 800}, bypass_csp=bypass_csp)
    page.set_default_timeout(15_000)
    page.problems = []
    page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
    return page


@pytest.fixture
def browser_page(browser):
    """A page for driving the GUI. Playwright's wait_for_function needs eval, which the page's
    Content-Security-Policy forbids, so CSP is bypassed here; test_page_obeys_its_own_csp runs without."""
    return new_page(browser, bypass_csp=True)


def test_page_obeys_its_own_csp(gui, browser):
    page = new_page(browser, bypass_csp=False)
    page.goto(gui.url + "/chat/")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#model-select option[value=fake-model]", state="attached")
    csp = page.evaluate("fetch('/chat/').then(r => r.headers.get('content-security-policy'))")
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert page.problems == []


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def open_chat(page, url: str) -> None:
    page.goto(url + "/chat/")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_function("[...document.querySelectorAll('#model-select option')].some(o => o.value === 'fake-model')")
    page.select_option("#model-select", "fake-model")


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def last_reply(page):
    return page.locator("article.message.assistant").last


def conversation_ids(page) -> list[str]:
    return page.eval_on_selector_all(
        "#conversation-list li[data-conversation-id]", "els => els.map(e => e.dataset.conversationId)"
    )


def test_chat_streams_switches_conversations_and_draws(gui, browser_page):
    page, fake = browser_page, gui.fake
    fake.set_option("FakeChat", content=MARKDOWN, chunks=12, chunk_delay=0.12)
    open_chat(page, gui.url)
    assert page.title().startswith("Chat")

    send(page, "Show me some markdown")
    # Part of the reply is on screen while the stream is still running (Stop is still offered).
    page.wait_for_function(
        """() => {
            const replies = document.querySelectorAll('article.message.assistant .content');
            const text = replies.length ? replies[replies.length - 1].textContent : '';
            return text.includes('Here is') && !text.includes('The end') && !document.getElementById('stop').hidden;
        }"""
    )
    partial = last_reply(page).locator(".content").inner_text()
    page.wait_for_selector("#stop", state="hidden")
    reply = last_reply(page)
    assert len(reply.locator(".content").inner_text()) > len(partial)
    assert reply.locator(".content strong").inner_text() == "bold"
    assert "print('hi')" in reply.locator(".content pre code").inner_text()
    assert "FakeChat" in reply.locator(".meta").inner_text()
    first_id = page.evaluate("JSON.parse(localStorage.getItem('g4f.gui.current'))")
    screenshot(page, "gui-chat-markdown.png")

    # A second conversation, echoed by the fake.
    fake.set_option("FakeChat", content=None, chunks=5, chunk_delay=0.0)
    page.click("#new-chat")
    assert page.locator("article.message").count() == 0
    send(page, "Second conversation here")
    page.wait_for_selector("#stop", state="hidden")
    page.wait_for_function("document.querySelectorAll('#conversation-list li[data-conversation-id]').length === 2")
    assert "Hello from FakeChat: Second conversation here" in last_reply(page).inner_text()
    second_id = page.evaluate("JSON.parse(localStorage.getItem('g4f.gui.current'))")
    assert set(conversation_ids(page)) == {first_id, second_id}

    # Switch back: the first conversation's messages come back.
    page.click(f"#conversation-list li[data-conversation-id='{first_id}'] button:not(.conversation-delete)")
    page.wait_for_function("document.getElementById('chat-title').textContent.startsWith('Show me some markdown')")
    page.wait_for_selector("article.message.assistant strong")
    assert page.locator("article.message.user").first.inner_text() == "Show me some markdown"
    assert "Second conversation" not in page.locator("#messages").inner_text()

    # Server-side history when the gateway has /v1/conversations (the page falls back to this browser without it).
    listed = gui.get("/v1/conversations")
    if listed.status_code == 200:
        assert {first_id, second_id} <= {c["id"] for c in listed.json()["data"]}
        # The follow-up goes with the conversation id only: the server supplies the history.
        send(page, "And a follow-up")
        page.wait_for_selector("#stop", state="hidden")
        sent = fake.requests_for("FakeChat")[-1].json["messages"]
        assert [m["content"] for m in sent if m["role"] == "user"][:1] == ["Show me some markdown"]
        assert sent[-1]["content"] == "And a follow-up"

    # An image, shown inline.
    page.check("#image-mode")
    page.wait_for_function("[...document.querySelectorAll('#model-select option')].some(o => o.value === 'fake-image')")
    page.select_option("#model-select", "fake-image")
    send(page, "a tiny square")
    image = page.wait_for_selector("img[data-testid=generated-image]")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)
    assert "FakeImages" in last_reply(page).locator(".meta").inner_text()
    page.uncheck("#image-mode")
    screenshot(page, "gui-chat.png")
    assert page.problems == []


def test_stop_ends_a_reply_midway_and_errors_are_plain(gui, browser_page):
    page, fake = browser_page, gui.fake
    fake.set_option("FakeChat", content=" ".join(f"word{i}" for i in range(40)), chunks=40, chunk_delay=0.2)
    open_chat(page, gui.url)
    send(page, "Talk for a while")
    page.wait_for_function("document.querySelector('article.message.assistant .content').textContent.includes('word1')")
    page.click("#stop")
    page.wait_for_selector("#stop", state="hidden")
    reply = last_reply(page)
    assert "stopped" in reply.locator(".meta").inner_text()
    assert "word39" not in reply.inner_text()
    # The gateway dropped the upstream call when the browser went away.
    for _ in range(100):
        if fake.open_connections("FakeChat") == 0:
            break
        page.wait_for_timeout(50)
    assert fake.open_connections("FakeChat") == 0

    fake.set_fault("FakeChat", "500")
    send(page, "This will fail")
    error = page.wait_for_selector("[data-testid=error]")
    assert "No provider could answer right now." in error.inner_text()
    assert page.problems == [] or all("502" in p for p in page.problems)


def test_api_key_is_asked_once_and_kept(gui, browser_page, settings):
    settings.G4F = {**settings.G4F, "API_KEY": "gui-secret"}
    page = browser_page
    page.goto(gui.url + "/chat/")
    page.wait_for_selector("#api-key-dialog[open]")
    page.fill("#api-key-input", "wrong-key")
    page.click("#api-key-save")
    page.wait_for_function("document.getElementById('api-key-reason').textContent.includes('not accepted')")
    page.fill("#api-key-input", "gui-secret")
    page.click("#api-key-save")
    page.wait_for_function("[...document.querySelectorAll('#model-select option')].some(o => o.value === 'fake-model')")
    assert page.evaluate("JSON.parse(localStorage.getItem('g4f.gui.apiKey'))") == "gui-secret"
    send(page, "With a key")
    page.wait_for_selector("#stop", state="hidden")
    assert "Hello from FakeChat: With a key" in last_reply(page).inner_text()
    # Reloading keeps the key: no dialog this time.
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#api-key-dialog[open]").count() == 0
    assert page.problems == [] or all("401" in p for p in page.problems)


def test_without_server_conversations_the_browser_keeps_them(gui, browser_page):
    """A gateway without /v1/conversations (simulated by answering 404 in the browser): the page
    keeps conversations in localStorage and sends the earlier turns itself."""
    page, fake = browser_page, gui.fake
    not_found = (
        '{"error": {"message": "Not found.", "type": "invalid_request_error", "param": null, "code": "not_found"}}'
    )
    page.route(
        "**/v1/conversations**",
        lambda route: route.fulfill(status=404, body=not_found, content_type="application/json"),
    )
    open_chat(page, gui.url)
    send(page, "first question")
    page.wait_for_selector("#stop", state="hidden")
    send(page, "second question")
    page.wait_for_function(
        "document.querySelectorAll('article.message.assistant').length === 2 && document.getElementById('stop').hidden"
    )
    sent = fake.requests_for("FakeChat")[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "first question"),
        ("assistant", "Hello from FakeChat: first question"),
        ("user", "second question"),
    ]
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#conversation-list li").count() == 1
    assert page.locator("article.message.assistant").count() == 2
    assert [p for p in page.problems if "404" not in p] == []


@pytest.fixture
def gui_with_speech(gui):
    """The GUI's catalogue plus a speech model and a provider without its credential (added
    before the browser starts: Playwright's event loop makes the ORM refuse to run)."""
    gui.add_provider("FakeSpeech", models=["tts-1"], capabilities=("speech",))
    gui.add_provider("Locked", models=["locked-model"], capabilities=("chat",), needs_auth=True)
    return gui


def test_pickers_offer_chat_models_and_name_provider_states(gui_with_speech, browser_page):
    """The chat model list holds chat models only (no speech model), and a provider that cannot
    answer says why in the word `/v1/providers` and the admin use."""
    gui, page = gui_with_speech, browser_page
    open_chat(page, gui.url)
    models = page.eval_on_selector_all("#model-select option", "els => els.map(e => e.value)")
    assert "fake-model" in models and "tts-1" not in models
    page.wait_for_selector("#provider-select option[value=Locked]", state="attached")
    labels = page.eval_on_selector_all("#provider-select option", "els => els.map(e => e.textContent)")
    assert "Locked (needs credential)" in labels and "FakeChat" in labels
    assert page.problems == []
