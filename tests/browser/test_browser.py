"""The web pages in a real browser: Debian's headless Chromium driven by Playwright.

Logs in, searches, opens an indicator, uploads a sightings CSV and reads the receipt, downloads a
blocklist, manages accounts, and checks that hostile values render as text (no dialog ever opens,
no script element exists) and that every page fits a phone's width. Screenshots of the main pages
go to $CYBERLAB_SCREENSHOTS when set (`make screenshots` writes docs/screenshots/).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from indexer.normalize.common import indicator_id, pattern_for
from tests.conftest import TAXII, LiveServer, prepare_store, start_server
from tests.cyberlab.test_web import HOSTILE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium (make test installs it: apt-get install chromium chromium-driver)",
)
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
CITY_IPS = ["1.2.3.10", "1.2.3.11", "5.6.7.12"]


def indicator(ip: str, **extra: Any) -> dict[str, Any]:
    pattern = pattern_for("ipv4", ip)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(pattern),
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-20T00:00:00.000Z",
        "name": f"Brute force from {ip}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
        "labels": ["brute-force"],
        "external_references": [{"source_name": "city-soc", "description": "the city SOC's logs"}],
        **extra,
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("browser")
    server = start_server(data_dir, prepare_store(data_dir), workers=2)
    server.post_objects("public-blocklist", [HOSTILE, *(indicator(ip) for ip in CITY_IPS)])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


class Dialogs:
    """Fails the test if any page ever opens a dialog (an alert() that ran)."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def __call__(self, dialog: Any) -> None:
        self.opened.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    dialogs = Dialogs()
    tab.on("dialog", dialogs)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert dialogs.opened == [], f"a hostile value ran as script: {dialogs.opened}"
    assert errors == []


def shoot(tab: Any, name: str) -> None:
    folder = os.environ.get("CYBERLAB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def log_in(tab: Any, site: LiveServer, role: str) -> None:
    tab.goto(f"{site.url}/login")
    tab.fill("input[name=name]", role)
    tab.fill("input[name=key]", site.keys[role])
    tab.click("button[type=submit]:has-text('Log in')")
    tab.wait_for_url(f"{site.url}/")
    assert tab.get_by_role("button", name=f"Log out {role}").is_visible()


def fits(tab: Any, width: int) -> bool:
    return bool(tab.evaluate(f"document.documentElement.scrollWidth <= {width}"))


def test_hostile_values_render_as_inert_text(page: Any, site: LiveServer) -> None:
    page.goto(f"{site.url}/")
    # The stylesheet loads (it once 404ed, shadowed by Flask's own /static route).
    assert (
        page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
        == "rgb(11, 61, 92)"
    )
    assert page.evaluate("document.scripts.length") == 0
    assert page.get_by_text("<script>alert('name')</script>").count() == 0  # the table shows values
    page.goto(f"{site.url}/indicators/{HOSTILE['id']}")
    assert page.get_by_role("heading", name="<script>alert('name')</script>").is_visible()
    value = page.locator("td.value").first.inner_text()
    assert "javascript:alert(1)//\\u202e" in value  # the RTL override is shown, not obeyed
    assert page.locator("a[href^='javascript:']").count() == 0  # never a live link
    assert page.evaluate("document.querySelectorAll('img, svg[onload], [onerror]').length") == 0
    assert "characters)" in page.locator("td").filter(has_text="onerror").inner_text()  # 10 kB cut


def test_analyst_logs_in_searches_and_pivots(page: Any, site: LiveServer) -> None:
    log_in(page, site, "analyst")
    page.goto(f"{site.url}/search")
    page.fill("#search-form input[name=cidr]", "1.2.3.0/24")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#result-count")
    assert page.inner_text("#result-count").startswith("2 results")
    assert page.locator("aside.facets").is_visible()
    assert page.locator("aside.facets a", has_text="brute-force").is_visible()
    shoot(page, "search")
    page.click("td.value a >> text=1.2.3.10")
    page.wait_for_selector("h1")
    assert page.inner_text("h1") == "Brute force from 1.2.3.10"
    shoot(page, "indicator")
    page.click("a:has-text('Everything in 1.2.3.0/24')")
    page.wait_for_selector("#result-count")
    assert page.inner_text("#result-count").startswith("2 results")


def test_partner_uploads_a_csv_and_reads_the_receipt(page: Any, site: LiveServer, tmp_path: Path) -> None:
    log_in(page, site, "partner")
    page.click("a:has-text('Report sightings')")
    csv = tmp_path / "seen.csv"
    csv.write_text("value,type,count\n1.2.3.10,,3\nnot a value\n10.0.0.1\n")
    page.set_input_files("input[type=file]", str(csv))
    page.click("button:has-text('Send')")
    page.wait_for_selector("text=accepted")
    body = page.inner_text("main")
    assert "1 accepted, 0 already reported, 2 rejected." in body
    assert "not an IP address" in body and "not shared" in body
    shoot(page, "receipt")
    page.go_back()
    page.set_input_files("input[type=file]", str(csv))
    page.click("button:has-text('Send')")
    page.wait_for_selector("text=already reported")
    assert "0 accepted, 1 already reported, 2 rejected." in page.inner_text("main")


def test_subscriber_downloads_a_blocklist(page: Any, site: LiveServer) -> None:
    log_in(page, site, "subscriber")
    page.click("header a:has-text('Subscribe')")
    shoot(page, "subscribe")
    with page.expect_download() as download_info:
        page.click("a.export[data-collection=public-blocklist][data-kind=ip]")
    path = download_info.value.path()
    listed = Path(path).read_text().split()
    assert set(CITY_IPS) <= set(listed)


def test_admin_invites_rotates_and_revokes(page: Any, site: LiveServer, browser: Any) -> None:
    log_in(page, site, "admin")
    page.click("header a:has-text('Accounts')")
    page.fill("input[name=name]", "bakery-on-main")
    page.select_option("select[name=role]", "subscriber")
    page.click("button:has-text('Create account')")
    key = page.inner_text("#new-key").strip()
    assert key and page.evaluate("document.body.innerText").count(key) == 1
    auth = ("bakery-on-main", key)
    assert requests.get(site.root, auth=auth, headers={"Accept": TAXII}, timeout=10).ok
    page.click("a:has-text('Back to accounts')")
    shoot(page, "accounts")
    page.locator("tr", has_text="bakery-on-main").get_by_role("button", name="Revoke").click()
    assert "revoked" in page.inner_text("p.notice")
    assert requests.get(site.root, auth=auth, headers={"Accept": TAXII}, timeout=10).status_code == 401
    # A subscriber is turned away from the admin pages.
    other = browser.new_context()
    tab = other.new_page()
    log_in(tab, site, "subscriber")
    assert tab.goto(f"{site.url}/admin/accounts").status == 403
    other.close()


def test_home_shows_what_partners_sighted(page: Any, site: LiveServer) -> None:
    """After the partner's upload above: the most-sighted table names 1.2.3.10, anonymized."""
    page.goto(f"{site.url}/")
    sighted = page.locator("h2:has-text('Most sighted') + table")
    row = sighted.locator("tr", has_text="1.2.3.10")
    assert row.locator("td").last.inner_text() == "1 organization"
    assert "partner" not in sighted.inner_text()  # who saw it is for analysts only
    shoot(page, "home")


@pytest.mark.parametrize("path", ["/", "/search?q=brute", "/subscribe", "/login", "/indicators/{hostile}"])
def test_pages_fit_a_phone(browser: Any, site: LiveServer, path: str) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    tab = context.new_page()
    tab.goto(site.url + path.format(hostile=HOSTILE["id"]))
    assert fits(tab, PHONE["width"]), f"{path} scrolls sideways at {PHONE['width']} px"
    if path == "/":
        shoot(tab, "home-phone")
    context.close()
