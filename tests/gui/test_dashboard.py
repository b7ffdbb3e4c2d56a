"""The operator's console in headless Chromium: the usage dashboard with data in it (charts drawn
from the vendored Chart.js, formatted numbers, the provider health board in the words
/v1/providers uses), the provider list at 1280 px with its per-row buttons, and the mapping form's
capability checkboxes. Screenshots go to test-artifacts/."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalogue import services
from completions.routing.health import health_board
from completions.usage import usage_recorder
from tests.gui.test_gui import CHROMIUM, LAUNCH_ARGS, screenshot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
CHAT = [{"role": "user", "content": "Tell me something"}]
RAW_FLOAT = re.compile(r"\d\.\d{5,}")


@pytest.fixture
def console(gateway, settings):
    """Providers in several states, two keys, and a day's and a month's usage, through real HTTP."""
    settings.G4F = {**settings.G4F, "BREAKER_THRESHOLD": 1, "BREAKER_COOLDOWN": 600.0}
    gateway.add_provider("Alpha", models=["fake-model", "fast-model"], priority=3)
    gateway.add_provider("Beta", models=["fake-model"], priority=2)
    gateway.add_provider("Keyed", models=["keyed-model"], needs_auth=True)
    gateway.add_provider("Resting", models=["fake-model"], status="ignored")
    _, team = services.api_key_create(name="team")
    _, app = services.api_key_create(name="app")
    gateway.fake.set_option("Alpha", delay=0.05)
    for index in range(8):
        key = team if index % 2 else app
        client = gateway.openai(api_key=key)
        client.chat.completions.create(model="fast-model" if index % 3 else "fake-model", messages=CHAT)
    gateway.fake.set_fault("Alpha", "500", times=1)  # fails over to Beta; the breaker opens on Alpha
    gateway.openai(api_key=team).chat.completions.create(model="fake-model", messages=CHAT)
    assert health_board.writer.wait_idle(10)
    health_board.writer.stats_flush()  # success rates and latencies for the admin, now
    for days, cost in ((3, 0.0123), (12, 0.5), (25, 1.75)):  # older usage, priced
        usage_recorder.record(
            api_key_id=None,
            endpoint="chat",
            model="fake-model",
            provider="Beta",
            success=True,
            status_code=200,
            prompt_tokens=1200,
            completion_tokens=800,
            latency_ms=850.0,
            cost=cost,
            created_at=timezone.now() - timedelta(days=days),
        )
    usage_recorder.flush()
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests")
    gateway.team_key = team
    return gateway


@pytest.fixture
def page(console):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            page.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # the admin has none
            page.problems = []
            page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))
            page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
            page.on("request", lambda r: r.url.startswith(console.url) or page.problems.append(f"external: {r.url}"))
            page.on("response", lambda r: r.status == 404 and page.problems.append(f"404: {r.url}"))
            page.goto(console.url + "/admin/login/?next=/admin/")
            page.fill("#id_username", "root")
            page.fill("#id_password", "pw-for-tests")
            page.click("input[type=submit]")
            page.wait_for_selector("#g4f-dashboard-link")
            yield page
        finally:
            browser.close()


def test_dashboard_draws_usage_charts_and_the_health_board(console, page):
    page.click("text=Usage and provider health")
    page.wait_for_selector("body[data-charts-drawn='14']")
    canvases = page.eval_on_selector_all(
        "canvas[data-chart]", "cs => cs.map(c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
        ".some((v, i) => i % 4 === 3 && v > 0))",
    )  # fmt: skip
    assert len(canvases) == 14 and all(canvases), canvases
    path = screenshot(page, "admin-dashboard.png")
    assert path.exists()

    day = page.inner_text("#window-day .g4f-totals")
    assert re.search(r"Requests\s+9\b", day) and "ms" in day and "%" in day
    month = page.inner_text("#window-month .g4f-totals")
    assert "$2.26" in month and re.search(r"Requests\s+12\b", month)  # 0.0123 + 0.5 + 1.75
    by_key = page.inner_text("#window-month [data-breakdown=by_key]")
    assert "team" in by_key and "app" in by_key and "master key / no key" in by_key
    assert not RAW_FLOAT.search(page.inner_text("#content-main"))

    listed = {
        p["id"]: p["status"]
        for p in console.get("/v1/providers", headers={"Authorization": f"Bearer {console.team_key}"}).json()["data"]
    }
    board = dict(
        zip(
            page.eval_on_selector_all("#health-board tbody th", "els => els.map(e => e.textContent.trim())"),
            page.eval_on_selector_all("#health-board .g4f-state", "els => els.map(e => e.textContent.trim())"),
            strict=True,
        )
    )
    assert board["Alpha"] == "Cooling down" and board["Keyed"] == "Needs credential"
    for name, state in listed.items():
        assert board[name] == state.replace("_", " ").capitalize(), (name, board, listed)
    health = page.inner_text("#health-board")
    assert "not needed" in health and "missing" in health and "100%" in health and "88.9%" in health
    assert page.problems == []


def provider_status(console, name: str) -> str:
    """What /v1/providers says (the ORM cannot be used while Playwright's event loop runs here)."""
    response = console.get(f"/v1/providers/{name}", headers={"Authorization": f"Bearer {console.team_key}"})
    return response.json()["status"]


def test_provider_list_fits_1280px_with_row_buttons_and_capability_checkboxes(console, page):
    page.goto(console.url + "/admin/catalogue/provider/")
    page.wait_for_selector("#result_list")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    table, room = page.evaluate(
        "[document.querySelector('#result_list').scrollWidth,"
        " document.querySelector('#changelist .results').clientWidth]"
    )
    assert table <= room, f"the provider list is {table} px wide in {room} px: it scrolls sideways"
    screenshot(page, "admin-providers-1280.png")

    row = page.locator("#result_list tr", has_text="Beta")
    row.locator("button[title='Mark not working']").click()
    page.wait_for_selector("text=Beta marked not working")
    assert provider_status(console, "Beta") == "not_working"
    page.locator("#result_list tr", has_text="Beta").locator("button[title='Mark working']").click()
    page.wait_for_selector("text=Beta marked working")
    assert provider_status(console, "Beta") == "working"

    page.click("#result_list a:text-is('Alpha')")
    page.wait_for_selector("input[type=checkbox][name$='-capabilities']")
    boxes = page.locator("input[type=checkbox][name$='-capabilities']")
    assert boxes.count() >= 2 * 7  # two mappings, one box per capability
    assert page.locator("input[type=checkbox][name$='-capabilities'][value=chat]:checked").count() == 2
    screenshot(page, "admin-provider-mappings.png")
    assert page.problems == []
