"""The email digest, end to end: subscribe on the web page over HTTP, `cyberlab digest send` as a
real subprocess speaking SMTP to a real aiosmtpd server on 127.0.0.1, the mail parsed with the
stdlib email package; failures retried, nothing sent twice; the unsubscribe link without login."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from cyberlab.digest import UnsubscribeTokens
from tests.data import indicator_for
from tests.helpers import (
    BACKENDS,
    SIGNING_KEY,
    TEST_CONFIG,
    Backend,
    LiveServer,
    cli,
    csrf,
    login,
    make_settings,
    prepare_store,
    start_server,
)
from tests.mail import SmtpServer

GREEN_IP = "198.51.100.23"
GREEN_DOMAIN = "phish-login.example"
AMBER_IP = "198.51.100.99"  # in a collection subscribers read, above their TLP:GREEN clearance
PARTNER_ONLY = "198.51.100.77"  # in partner-sightings, which subscribers may not read
EXPIRED_IP = "198.51.100.5"


@pytest.fixture(scope="module")
def smtp(site: LiveServer) -> Iterator[SmtpServer]:
    """A fresh mailbox per site (per backend): the tests count what each site sent."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    backend = Backend.make(request.param)
    request.addfinalizer(backend.drop)
    data_dir = tmp_path_factory.mktemp("digest")
    live = start_server(data_dir, prepare_store(data_dir, backend), backend=backend)
    live.post_objects(
        "city-indicators",
        [
            indicator_for("ipv4", GREEN_IP, source="CERT-FR"),
            indicator_for("domain", GREEN_DOMAIN),
            indicator_for("ipv4", EXPIRED_IP, valid_until="2026-11-02T00:00:00Z"),
        ],
    )
    live.post_objects("community", [indicator_for("ipv4", AMBER_IP, tlp="amber")])
    yield live
    live.stop()


def subscribe(site: LiveServer, role: str, **fields: str | list[str]) -> requests.Response:
    session = login(site, role)
    form: dict[str, str | list[str]] = {
        "csrf_token": csrf(session, f"{site.url}/digest"),
        "enabled": "1",
        "address": f"{role}@shop.example",
        "frequency": "daily",
        "format": "plain",
        **fields,
    }
    return session.post(f"{site.url}/digest", data=form, timeout=10)


def collection_ids(site: LiveServer, *aliases: str) -> list[str]:
    settings = make_settings(site.data_dir)
    return [settings.collection(a).id for a in aliases]  # type: ignore[union-attr]


def send(site: LiveServer, smtp: SmtpServer, *args: str) -> tuple[int, str]:
    backend_env = site.backend.env if site.backend else {}  # the site's own store
    done = cli(site.data_dir, "digest", "send", *args, **backend_env, **smtp.env)
    return done.returncode, done.stdout + done.stderr


def attachment(msg: EmailMessage) -> list[dict[str, str]]:
    (part,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/csv"]
    return list(csv.DictReader(io.StringIO(part.get_content())))


def body(msg: EmailMessage, kind: str = "plain") -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


def test_the_page_needs_a_login_and_offers_only_readable_collections(site: LiveServer) -> None:
    anonymous = requests.get(f"{site.url}/digest", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    page = login(site, "subscriber").get(f"{site.url}/digest", timeout=10).text
    (sightings,) = collection_ids(site, "partner-sightings")
    assert "City SOC indicators" in page and sightings not in page
    refused = subscribe(site, "subscriber", collection=[sightings])
    assert refused.status_code == 400 and "only receive collections your account may read" in refused.text
    bad = subscribe(site, "subscriber", address="a@b.example\r\nBcc: all@victims.example")
    assert bad.status_code == 400 and "one email address" in bad.text


def test_a_digest_within_clearance_then_only_what_is_new_and_never_twice(
    site: LiveServer, smtp: SmtpServer
) -> None:
    wanted = collection_ids(site, "city-indicators", "community")
    saved = subscribe(site, "subscriber", collection=wanted)
    assert saved.status_code == 200 and "Saved" in saved.text

    code, out = send(site, smtp, "--dry-run")
    assert code == 0 and "subscriber: dry-run, 2 item(s)" in out, out
    assert smtp.mailbox.received == []

    code, out = send(site, smtp)
    assert code == 0 and "subscriber: sent, 2 item(s)" in out, out
    (msg,) = smtp.mailbox.received
    assert msg["To"] == "subscriber@shop.example" and msg["From"] == "digest@cyberlab.test"
    assert "2 new to block" in msg["Subject"]
    text = body(msg)
    assert "1 IP addresses" in text and "1 domains" in text
    assert "198[.]51[.]100[.]23" in text and "reported by CERT-FR" in text  # defanged: not a link
    assert "Block it in your firewall" in text
    rows = attachment(msg)
    assert {(r["value"], r["type"]) for r in rows} == {(GREEN_IP, "ip"), (GREEN_DOMAIN, "domain")}
    # Never above the account's clearance, never a collection it may not read, never expired.
    for value in (AMBER_IP, PARTNER_ONLY, EXPIRED_IP):
        assert value.replace(".", "[.]") not in text and value not in {r["value"] for r in rows}
    assert msg["List-Unsubscribe"].startswith("<http") and msg["List-Unsubscribe-Post"]

    # Again at once: not due; forced: nothing new, so no mail.
    assert "subscriber: not-due" in send(site, smtp)[1]
    assert "subscriber: nothing-new" in send(site, smtp, "--force")[1]
    assert len(smtp.mailbox.received) == 1

    # Something new; the SMTP server refuses the recipient: logged, exit 1, nothing recorded.
    site.post_objects("city-indicators", [indicator_for("url", "http://203.0.113.8/pay.php")])
    smtp.mailbox.refuse.add("subscriber@shop.example")
    code, out = send(site, smtp, "--force")
    assert code == 1 and "subscriber: failed" in out and "recipient refused" in out, out
    assert len(smtp.mailbox.received) == 1
    # The server is down: the same.
    smtp.mailbox.refuse.clear()
    smtp.stop()
    try:
        code, out = send(site, smtp, "--force")
        assert code == 1 and "subscriber: failed" in out and "Connection refused" in out, out
    finally:
        smtp.start()
    # Back up: the retry sends the new item, and only it.
    code, out = send(site, smtp, "--force")
    assert code == 0 and "subscriber: sent, 1 item(s)" in out, out
    assert len(smtp.mailbox.received) == 2
    retry = smtp.mailbox.received[1]
    assert [r["value"] for r in attachment(retry)] == ["http://203.0.113.8/pay.php"]
    assert "hxxp://203[.]0[.]113[.]8/pay[.]php" in body(retry)
    assert send(site, smtp, "--force")[1].strip().endswith("subscriber: nothing-new, 0 item(s)")
    assert len(smtp.mailbox.received) == 2


def test_html_digest_shows_values_as_inert_text(site: LiveServer, smtp: SmtpServer) -> None:
    # A hostile value only a direct write could store: the HTML mail must escape it.
    hostile = indicator_for("url", "http://x.example/<script>alert(1)</script>", random_id=True)
    site.post_objects("city-indicators", [hostile])
    (city,) = collection_ids(site, "city-indicators")
    assert subscribe(site, "partner", collection=[city], format="html").status_code == 200
    before = len(smtp.mailbox.received)
    code, out = send(site, smtp, "--force")
    assert code == 0 and "partner: sent" in out, out
    msg = next(m for m in smtp.mailbox.received[before:] if m["To"] == "partner@shop.example")
    html = body(msg, "html")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<table>" in html  # it is an HTML part, and the plain one is there too
    assert "hxxp" in body(msg)


def test_unsubscribe_link_works_without_login_and_only_for_its_account(
    site: LiveServer, smtp: SmtpServer
) -> None:
    (city,) = collection_ids(site, "city-indicators")
    assert subscribe(site, "analyst", collection=[city]).status_code == 200
    before = len(smtp.mailbox.received)
    assert "analyst: sent" in send(site, smtp, "--force")[1]
    msg = next(m for m in smtp.mailbox.received[before:] if m["To"] == "analyst@shop.example")
    link = re.search(r"Unsubscribe \(no login needed\): (\S+)", body(msg)).group(1)  # type: ignore[union-attr]
    path = urlsplit(link).path
    # A mail scanner's GET changes nothing; the button (or RFC 8058 one-click POST) does.
    page = requests.get(f"{site.url}{path}", timeout=10)
    assert page.status_code == 200 and "Stop the email digest of the account analyst" in page.text
    assert "analyst: nothing-new" in send(site, smtp, "--force")[1]
    done = requests.post(f"{site.url}{path}", data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert done.status_code == 200 and "no more digests" in done.text
    site.post_objects("city-indicators", [indicator_for("domain", "after-unsubscribe.example")])
    out = send(site, smtp, "--force")[1]
    assert "analyst: disabled" in out
    assert all(m["To"] != "analyst@shop.example" for m in smtp.mailbox.received[before + 1 :])
    # Tampered, or signed for another purpose (a session or `next` key): refused.
    token = path.rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert requests.post(f"{site.url}/digest/unsubscribe/{forged}", timeout=10).status_code == 400
    other = UnsubscribeTokens("another-key-" + SIGNING_KEY).issue("subscriber")
    assert requests.post(f"{site.url}/digest/unsubscribe/{other}", timeout=10).status_code == 400


def test_worker_sends_due_digests_on_its_schedule(tmp_path: Path, site: LiveServer, smtp: SmtpServer) -> None:
    """`cyberlab worker --once` over the site's backend (a fresh store of that backend, so the
    site's own digests are left alone)."""
    backend = Backend.make(site.backend.name if site.backend else "sqlite")
    keys = prepare_store(tmp_path, backend)
    live = start_server(tmp_path, keys, backend=backend)
    try:
        live.post_objects("city-indicators", [indicator_for("ipv4", "192.0.2.200", random_id=True)])
        assert subscribe(live, "subscriber", collection=collection_ids(live, "city-indicators")).ok
    finally:
        live.stop()
    before = len(smtp.mailbox.received)
    assert make_settings(tmp_path, **smtp.env).digest.schedule > 0
    # The test settings with the demo connectors off: this worker runs the digest job only.
    config = tmp_path / "worker.toml"
    config.write_text(
        TEST_CONFIG.read_text()
        + "\n[connectors.city-soc]\nenabled = false\n[connectors.cert-fr]\nenabled = false\n"
    )
    try:
        done = cli(tmp_path, "worker", "--once", **backend.env, **smtp.env, CYBERLAB_CONFIG=str(config))
    finally:
        backend.drop()
    assert done.returncode == 0, done.stderr
    mine = [m for m in smtp.mailbox.received[before:] if "192[.]0[.]2[.]200" in body(m)]
    assert len(mine) == 1 and [r["value"] for r in attachment(mine[0])] == ["192.0.2.200"]
