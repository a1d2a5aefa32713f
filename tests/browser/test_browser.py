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
from tests.data import HOSTILE
from tests.helpers import SIGNING_KEY, TAXII, LiveServer, prepare_store, server_env, start_server

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
    source = row.locator("td").last.inner_text()
    assert "city-soc" in source and "sighted by 1 organization" in source  # the source, then who saw it
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


# -- accessibility: axe-core on every page, and keyboard-only use ------------------------------
# axe-core (MPL-2.0) is installed by `make test` with npm into node_modules/ (git-ignored).
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BAD_IMPACTS = ("serious", "critical")


def axe_problems(tab: Any) -> list[str]:
    """Serious and critical axe-core violations of the page now shown, one line each."""
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in BAD_IMPACTS
    ]


@pytest.fixture
def axe_tab(browser: Any) -> Iterator[Any]:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing: `make test` installs it (npm install axe-core), looked in {AXE}")
    # The pages allow no script at all (CSP default-src 'none'); only this test context lets axe in.
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def unsubscribe_path(account: str) -> str:
    from cyberlab.digest import UnsubscribeTokens

    return f"/digest/unsubscribe/{UnsubscribeTokens(SIGNING_KEY).issue(account)}"


ANONYMOUS_PAGES = [
    "/",
    "/?lang=es",
    "/search?q=brute",
    "/subscribe",
    "/login",
    "/check",
    "/check?lang=es",
    "/indicators/{hostile}",
    "/indicators/indicator--00000000-0000-4000-8000-000000000000",  # the 404 page
    "{unsubscribe}",
]
ACCOUNT_PAGES = [
    ("subscriber", "/digest"),
    ("subscriber", "/subscribe"),
    ("partner", "/sightings/upload"),
    ("analyst", "/search?q=brute"),
    ("analyst", "/reports"),
    ("admin", "/admin/accounts"),
]


def test_every_page_has_no_serious_accessibility_problem(axe_tab: Any, site: LiveServer) -> None:
    problems: dict[str, list[str]] = {}
    for path in ANONYMOUS_PAGES:
        axe_tab.goto(
            site.url + path.format(hostile=HOSTILE["id"], unsubscribe=unsubscribe_path("subscriber"))
        )
        problems[path] = axe_problems(axe_tab)
    # "Is this suspicious?" with its answer table.
    axe_tab.goto(f"{site.url}/check?lang=en")  # (the Spanish pages above set the language cookie)
    axe_tab.fill("#text", "Is http://1.2.3.10/login or evil.example.org bad?")
    axe_tab.click("form button:has-text('Check')")
    axe_tab.wait_for_selector("#results")
    problems["/check (answer)"] = axe_problems(axe_tab)
    for role, path in ACCOUNT_PAGES:
        log_in(axe_tab, site, role)
        axe_tab.goto(site.url + path)
        problems[f"{path} as {role}"] = axe_problems(axe_tab)
        axe_tab.context.clear_cookies()
    found = {page: p for page, p in problems.items() if p}
    assert not found, "\n".join(f"{page}: {line}" for page, lines in found.items() for line in lines)


def press_tab_to(tab: Any, selector: str, limit: int = 40) -> None:
    """Tab through the page (no mouse) until `selector` has the focus."""
    for _ in range(limit):
        tab.keyboard.press("Tab")
        if tab.evaluate(f"document.activeElement && document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_login_check_and_report_with_the_keyboard_only(page: Any, site: LiveServer) -> None:
    page.goto(f"{site.url}/login")
    press_tab_to(page, "a.skip")  # the first stop skips the header
    press_tab_to(page, "input[name=name]")
    page.keyboard.type("subscriber")
    press_tab_to(page, "input[name=key]")
    page.keyboard.type(site.keys["subscriber"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/")
    assert page.get_by_role("button", name="Log out subscriber").is_visible()
    # "Is this suspicious?" from the header, by keyboard.
    press_tab_to(page, "header a[href='/check']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/check")
    press_tab_to(page, "#text")
    page.keyboard.type("Seen in our logs: 1.2.3.11")
    press_tab_to(page, "main form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results")
    row = page.locator("#results tr", has_text="1.2.3.11")
    assert "Known bad" in row.inner_text()
    # Report it: the row's button, reached with Tab, pressed with Enter.
    press_tab_to(page, "#results button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#outcome")
    assert "queued for the city" in page.inner_text("#outcome")
    focused = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused is not None


# -- screenshots from the demo data (`make screenshots` only) ----------------------------------
@pytest.mark.skipif(not os.environ.get("CYBERLAB_SCREENSHOTS"), reason="`make screenshots` only")
def test_demo_screenshots_in_english_and_spanish(browser: Any, tmp_path: Path) -> None:
    """What `make run` shows: the SOC's logs replayed as recent, CERT-FR's feed, in en and es."""
    import subprocess
    import sys

    keys = prepare_store(tmp_path)
    env = server_env(tmp_path, **{"CYBERLAB_CONNECTORS__CITY-SOC__DEMO_SHIFT_TO_NOW": "true"})
    for name in ("city-soc", "cert-fr"):
        command = [sys.executable, "-m", "cyberlab.cli", "ingest", name]
        subprocess.run(command, env=env, check=True, timeout=300, capture_output=True)
    server = start_server(tmp_path, keys)
    try:
        for lang in ("en", "es"):
            context = browser.new_context(viewport=DESKTOP)
            tab = context.new_page()
            tab.goto(f"{server.url}/login?lang={lang}")
            tab.fill("input[name=name]", "subscriber")
            tab.fill("input[name=key]", keys["subscriber"])
            tab.click("main button[type=submit]")
            tab.wait_for_url(f"{server.url}/")
            suffix = "" if lang == "en" else "-es"
            shoot(tab, f"demo-home{suffix}")
            tab.goto(f"{server.url}/check")
            tab.fill("#text", "From: billing@example.com\nPlease pay at http://1.2.3.4/invoice or 8.8.8.8")
            tab.click("main form button[type=submit]")
            tab.wait_for_selector("#results")
            shoot(tab, f"demo-check{suffix}")
            context.close()
    finally:
        server.stop()
