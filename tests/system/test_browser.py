"""The operator view in a real browser: Debian's chromium, driven by Playwright, on `serve`."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from gitops_bot.config import Settings
from gitops_bot.store.queue import Store
from helpers import ROOT, Server, find_browser, signed_headers, signup, tenant_files

pytestmark = pytest.mark.slow

# This machine's network is closed: without these, chromium keeps trying to reach
# Google's services and fills the run with refused connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium = find_browser()
    if chromium is None:
        # conftest.py turns this into a failure when REQUIRE_BROWSER is set (make test).
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed; `make test` does")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def send(server: Server, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{server.url}/v1/events", data=body, headers=signed_headers(body), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def wait_until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def fleet(server: Server) -> list[str]:
    """Six signups on the branch, the second one suspended, the third with a long custom
    domain awaiting its DNS record (a card that must fit a phone too)."""
    slugs = [f"shop-{n}" for n in range(1, 7)]
    for slug in slugs:
        extra = {"domain": f"{'a' * 60}.{slug}.example"} if slug == "shop-3" else {}
        send(server, signup(slug, plan="free" if slug.endswith(("1", "2")) else "pro", **extra))
    wait_until(lambda: set(slugs) <= set(tenant_files(server.remote)))
    send(
        server,
        {
            "type": "tenant.suspend",
            "timestamp": "2026-11-24T12:00:00Z",
            "data": {"slug": "shop-2", "reason": "unpaid invoice"},
        },
    )
    wait_until(lambda: tenant_files(server.remote)["shop-2"]["state"] == "suspended")
    return slugs


@pytest.fixture
def went_live(fleet: list[str], settings: Settings) -> list[str]:
    """The fleet but the suspended one (the filters look for it), deployed and live, as
    deploy reports and the probe would record them: the timeline chart's bars."""
    slugs = [slug for slug in fleet if slug != "shop-2"]
    with Store(settings.database_path) as store:
        for slug in slugs:
            for status in ("deploying", "deployed", "live"):
                assert store.add_transition(slug, status)
    return slugs


def check_timeline_chart(page: Any, went_live: list[str]) -> None:
    """Signup to live, drawn without a script: a bar per tenant, the median and p90 lines."""
    chart = page.locator("svg[data-testid=timeline-chart]")
    assert chart.is_visible()
    assert chart.locator("title").first.text_content() == (
        f"Signup to live of the last {len(went_live)} tenants, by stage"
    )
    bars = chart.locator("g[data-slug]")
    assert sorted(bars.evaluate_all("gs => gs.map(g => g.dataset.slug)")) == went_live
    assert chart.locator("line[data-line=median]").count() == 1
    assert chart.locator("line[data-line=p90]").count() == 1
    assert chart.bounding_box()["height"] > 100
    assert "median" in page.locator("[data-testid=timeline-summary]").inner_text()
    # Four stages and the lines; "other" only appears when some bar has time no stage covers.
    assert page.locator("[data-testid=timeline-legend] li").count() == 5
    page.locator("#timeline").screenshot(path=SCREENSHOTS / "admin-timeline.png")


def shown(page: Any) -> list[str]:
    return [row.get_attribute("data-slug") for row in page.locator("tr[data-slug]").all()]


def test_operator_logs_in_filters_and_reads_it_on_a_phone(
    server: Server, fleet: list[str], went_live: list[str], browser: Any
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    # A style the CSP refused, or any script error, shows up as a console error; the
    # login page's own 401s do too, and are expected.
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and "status of 401" not in message.text
            and problems.append(message.text)
        ),
    )

    assert page.goto(f"{server.url}/admin").status == 401
    assert shown(page) == []
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That is not the admin token."
    page.screenshot(path=SCREENSHOTS / "admin-login.png")
    page.fill("input[name=token]", server.admin_token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/admin")

    assert shown(page) == sorted([*fleet, "acme", "globex", "initech"])
    suspended = page.locator('tr[data-slug="shop-2"] td[data-label="State"]')
    assert suspended.inner_text() == "suspended"
    assert page.locator("#hosts meter").count() == 2
    # The session cookie is out of reach of any script the page might ever run.
    [cookie] = context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert page.evaluate("document.cookie") == ""
    page.screenshot(path=SCREENSHOTS / "admin-desktop.png", full_page=True)
    check_timeline_chart(page, went_live)

    page.select_option("select[name=state]", "suspended")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/admin?state=suspended*")
    assert shown(page) == ["shop-2"]

    page.select_option("select[name=state]", "")
    page.select_option("select[name=host]", "web-1")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**host=web-1*")
    on_web_1 = shown(page)
    assert 0 < len(on_web_1) < len(fleet) + 3
    hosts = page.locator('tr[data-slug] td[data-label="Host"]').all_inner_texts()
    assert set(hosts) == {"web-1"}

    page.click("th >> text=Tenant")  # sorted by slug already: this reverses
    page.wait_for_url("**sort=-slug*")
    assert shown(page) == sorted(on_web_1, reverse=True)

    page.goto(f"{server.url}/admin")
    page.set_viewport_size(PHONE)
    # On a phone the table turns into cards: no header row, nothing wider than the screen.
    assert page.locator("table.tenants thead").is_hidden()
    assert page.locator("table.domains thead").is_hidden()
    assert page.locator('tr[data-domain] td[data-label="Verification"]').inner_text() == "pending"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    chart_box = page.locator("svg[data-testid=timeline-chart]").bounding_box()
    assert chart_box["x"] + chart_box["width"] <= PHONE["width"]
    page.screenshot(path=SCREENSHOTS / "admin-phone.png", full_page=True)
    context.close()
    assert problems == []
    for name in ("admin-login.png", "admin-desktop.png", "admin-timeline.png", "admin-phone.png"):
        assert (SCREENSHOTS / name).stat().st_size > 1000


def test_on_a_phone_the_pages_fit_the_screen_and_link_to_each_other(
    server: Server, fleet: list[str], browser: Any
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    context = browser.new_context(
        viewport=PHONE, extra_http_headers={"Authorization": f"Bearer {server.admin_token}"}
    )
    page = context.new_page()
    everyone = sorted([*fleet, "acme", "globex", "initech"])
    assert page.goto(f"{server.url}/admin?per_page=4").status == 200
    assert shown(page) == everyone[:4]
    assert page.locator('[data-testid="pages-top"] >> text=Page 1 of 3').is_visible()
    # Nothing is wider than the phone: no sideways scrolling, on any page.
    overflow = "document.scrollingElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(overflow)
    page.screenshot(path=SCREENSHOTS / "admin-phone-paged.png", full_page=True)

    page.locator('[data-testid="pages-top"] a[rel=next]').click()
    page.wait_for_url("**/admin?page=2&per_page=4")
    assert shown(page) == everyone[4:8]
    assert page.evaluate(overflow)
    page.locator('[data-testid="pages-bottom"] a[rel=next]').click()
    page.wait_for_url("**/admin?page=3&per_page=4")
    assert shown(page) == everyone[8:]
    assert page.locator('[data-testid="pages-top"] a[rel=next]').count() == 0
    page.locator('[data-testid="pages-top"] a[rel=prev]').click()
    page.wait_for_url("**/admin?page=2&per_page=4")
    assert shown(page) == everyone[4:8]

    # The sort menu stands in for the table's headings, which a phone does not show.
    page.select_option("select[name=sort]", "-slug")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**sort=-slug*")
    assert shown(page) == everyone[::-1][:4]
    assert page.evaluate(overflow)
    context.close()
    assert (SCREENSHOTS / "admin-phone-paged.png").stat().st_size > 1000
