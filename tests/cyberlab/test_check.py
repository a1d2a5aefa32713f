""" "Is this suspicious?" over real HTTP: pasted text (defanged forms included), a whole email, an
.eml built with the stdlib email package; verdicts within the caller's scope; caps, hostile
values, nothing stored unless reported; one-click reports (partner sighting, subscriber queue,
analyst triage into the city collection without the reporter's name); the rate limit."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from indexer.normalize.common import indicator_id, pattern_for
from tests.data import indicator_for
from tests.helpers import BACKENDS, TAXII, Backend, LiveServer, csrf, login, prepare_store, start_server

PUBLIC_URL = "http://pay-now-invoices.com/inv"
PUBLIC_DOMAIN = "pay-now-invoices.com"
CITY_IP = "185.100.87.202"  # the city SOC's (GREEN, not public)
AMBER_DOMAIN = "amber-only-evil.com"  # above a subscriber's clearance
UNKNOWN = "unknown-site-xyz.com"
CLEAR_PRIVATE = "clear-but-private.com"  # TLP:CLEAR, but in a collection anonymous visitors may not read
ATTACHMENT = b"MZ\x90\x00 not really a program, never opened"
SHARED_EML = sorted(Path("/work/shared/data").rglob("*.eml")) if Path("/work/shared/data").exists() else []


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    backend = Backend.make(request.param)
    request.addfinalizer(backend.drop)
    data_dir = tmp_path_factory.mktemp("check")
    live = start_server(
        data_dir,
        prepare_store(data_dir, backend),
        backend=backend,
        CYBERLAB_CHECK__MAX_TEXT_BYTES="20000",
        CYBERLAB_CHECK__MAX_EML_BYTES="60000",
    )
    live.post_objects(
        "public-blocklist",
        [
            indicator_for("url", PUBLIC_URL, tlp="clear", source="CERT-FR"),
            indicator_for("domain", PUBLIC_DOMAIN, tlp="clear", source="CERT-FR"),
        ],
    )
    live.post_objects(
        "city-indicators",
        [
            indicator_for("ipv4", CITY_IP, source="City SOC"),
            indicator_for("domain", CLEAR_PRIVATE, tlp="clear"),
        ],
    )
    live.post_objects("community", [indicator_for("domain", AMBER_DOMAIN, tlp="amber")])
    yield live
    live.stop()


def check(site: LiveServer, text: str, role: str | None = None) -> requests.Response:
    return requests.post(
        f"{site.url}/api/v1/check", json={"text": text}, auth=site.auth(role) if role else None, timeout=60
    )


def by_value(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["value"]: r for r in answer["results"]}


def phishing_email() -> EmailMessage:
    msg = EmailMessage()
    msg["Received"] = f"from mail.pay-now-invoices.com (unknown [{CITY_IP}]) by mx.shop.example (10.0.0.2)"
    msg["Received"] = "from internal.shop.example ([192.168.1.20]) by mx.shop.example"
    msg["From"] = "Accounts <billing@invoice-portal-secure.com>"
    msg["Reply-To"] = "collect@payments-dept-mail.com"
    msg["To"] = "owner@shop.example"
    msg["Subject"] = "Overdue invoice"
    msg.set_content(f"Pay today at hxxp://pay-now-invoices[.]com/inv or we call {UNKNOWN}")
    msg.add_alternative(
        f'<p>Pay <a href="{PUBLIC_URL}">here</a><img src="http://tracker-pixel-host.com/p.gif"></p>',
        subtype="html",
    )
    msg.add_attachment(ATTACHMENT, maintype="application", subtype="octet-stream", filename="invoice.pdf.exe")
    return msg


def test_pasted_text_with_defanged_values_anonymously(site: LiveServer) -> None:
    defanged_ip = CITY_IP.replace(".", "[.]")
    text = f"see hxxp://pay-now-invoices[.]com/inv and {defanged_ip}, 8.8.8.8, google(dot)com, {UNKNOWN}"
    text += f" {CLEAR_PRIVATE}"
    answer = check(site, text)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["stored"] is False and "Nothing you sent was stored" in body["note"]
    found = by_value(body)
    url = found[PUBLIC_URL]
    assert url["kind"] == "url" and url["verdict"] == "known-bad"
    assert "CERT-FR" in url["why"] and url["sources"] == ["CERT-FR"] and url["last_seen"] == "2026-11-20"
    assert "Block it" in url["advice"]
    assert found[PUBLIC_DOMAIN]["verdict"] == "known-bad"
    # The city's own collection is not public: an anonymous visitor learns nothing of it.
    assert found[CITY_IP]["verdict"] == "unknown" and found[CITY_IP]["kind"] == "ip"
    assert found[CLEAR_PRIVATE]["verdict"] == "unknown"
    assert by_value(check(site, CLEAR_PRIVATE, "subscriber").json())[CLEAR_PRIVATE]["verdict"] == "known-bad"
    assert found["8.8.8.8"]["verdict"] == "known-benign" and "warninglist" in found["8.8.8.8"]["why"]
    assert found["google.com"]["verdict"] == "known-benign"
    assert found[UNKNOWN]["verdict"] == "unknown"


def test_verdicts_follow_the_callers_clearance(site: LiveServer) -> None:
    text = f"{CITY_IP} {AMBER_DOMAIN}"
    subscriber = by_value(check(site, text, "subscriber").json())
    assert subscriber[CITY_IP]["verdict"] == "known-bad" and "City SOC" in subscriber[CITY_IP]["why"]
    assert subscriber[AMBER_DOMAIN]["verdict"] == "unknown"  # TLP:AMBER is above its clearance
    analyst = by_value(check(site, text, "analyst").json())
    assert analyst[AMBER_DOMAIN]["verdict"] == "known-bad"


def test_an_eml_upload_reads_hops_senders_links_and_attachments(site: LiveServer) -> None:
    raw = phishing_email().as_bytes()
    response = requests.post(
        f"{site.url}/api/v1/check",
        files={"file": ("mail.eml", raw, "message/rfc822")},
        auth=site.auth("subscriber"),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    found = by_value(body)
    assert body["email"] is True
    assert found[CITY_IP]["found_in"] == ["Received hop 1"] and found[CITY_IP]["verdict"] == "known-bad"
    assert "192.168.1.20" not in found and "10.0.0.2" not in found  # private hops are the network's own
    assert "sender domain" in found["invoice-portal-secure.com"]["found_in"]
    assert "reply-to domain" in found["payments-dept-mail.com"]["found_in"]
    assert found["collect@payments-dept-mail.com"]["kind"] == "email"
    assert found[PUBLIC_URL]["verdict"] == "known-bad"
    assert "a link in the email" in found[PUBLIC_URL]["found_in"]
    assert "http://tracker-pixel-host.com/p.gif" in found  # read as text, never loaded
    sha256, md5 = hashlib.sha256(ATTACHMENT).hexdigest(), hashlib.md5(ATTACHMENT).hexdigest()
    assert found[sha256]["kind"] == "hash" and found[sha256]["found_in"] == ["attachment invoice.pdf.exe"]
    assert md5 in found
    assert body["attachments"] == [
        {"name": "invoice.pdf.exe", "size": len(ATTACHMENT), "sha256": sha256, "md5": md5}
    ]
    # The same email pasted as text (headers and all) is read as an email too.
    pasted = by_value(check(site, phishing_email().as_string(), "subscriber").json())
    assert pasted[CITY_IP]["found_in"] == ["Received hop 1"] and sha256 in pasted


@pytest.mark.skipif(not SHARED_EML, reason="no .eml sample in /work/shared/data")
def test_shared_eml_samples_are_answered(site: LiveServer) -> None:
    for path in SHARED_EML[:5]:
        response = requests.post(
            f"{site.url}/api/v1/check", files={"file": (path.name, path.read_bytes())}, timeout=60
        )
        assert response.status_code in (200, 413), response.text


def test_bad_input_is_a_4xx_that_says_what_was_wrong(site: LiveServer) -> None:
    big = check(site, "a" * 20_001)
    assert big.status_code == 413 and "20,000 bytes" in big.json()["description"]
    eml = requests.post(f"{site.url}/api/v1/check", files={"file": ("big.eml", b"x" * 61_000)}, timeout=60)
    assert eml.status_code == 413 and "60,000 bytes" in eml.json()["description"]
    huge = requests.post(
        f"{site.url}/api/v1/check",
        data=b"x" * 200_000,
        timeout=60,
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and "emails up to 60,000 bytes" in huge.json()["description"]
    for data, media in (("[1]", "application/json"), ("{nope", "application/json"), ("hi", "text/plain")):
        bad = requests.post(
            f"{site.url}/api/v1/check", data=data, headers={"Content-Type": media}, timeout=20
        )
        assert bad.status_code == 400, bad.text
        assert bad.json()["description"]
    # A value that only looks like one of its kind is not looked up.
    odd = by_value(check(site, "http://<script>.com/ 999.1.1.1 zz..com").json())
    assert not any("<" in v or v == "999.1.1.1" for v in odd)


def test_the_page_is_for_everyone_shows_values_inertly_and_stores_nothing(site: LiveServer) -> None:
    session = requests.Session()
    page = session.get(f"{site.url}/check", timeout=10)
    assert page.status_code == 200
    assert "Nothing you paste or upload is stored" in page.text
    assert "20 kB" in page.text and "60 kB" in page.text  # the caps are said
    hostile = (
        f"<script>alert(1)</script> http://{UNKNOWN}/?q=<img src=x onerror=alert(2)> "
        f"'\"><svg onload=alert(3)> {UNKNOWN}"
    )
    answer = session.post(
        f"{site.url}/check",
        data={"text": hostile, "csrf_token": csrf(session, f"{site.url}/check")},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # echoed in the text area, as text
    assert UNKNOWN in html and "Log in to report" in html
    # Nothing was stored: the store's files (or indices) do not hold the pasted value.
    if site.backend is None or site.backend.name == "sqlite":
        stored = b"".join(p.read_bytes() for p in site.data_dir.glob("cyberlab.db*"))
        assert UNKNOWN.encode() not in stored
    else:
        prefix = site.backend.env["CYBERLAB_STORE__ELASTICSEARCH__INDEX_PREFIX"]
        hosts = site.backend.env["CYBERLAB_STORE__ELASTICSEARCH__HOSTS"]
        requests.post(f"{hosts}/{prefix}-*/_refresh", timeout=30)
        # Every document of this small site, whole (stored bodies are not indexed: read them).
        found = requests.post(
            f"{hosts}/{prefix}-*/_search", json={"size": 10_000, "query": {"match_all": {}}}, timeout=30
        )
        assert found.json()["hits"]["total"]["value"] < 10_000
        assert UNKNOWN not in found.text
    # An .eml through the page.
    upload = session.post(
        f"{site.url}/check",
        data={"csrf_token": csrf(session, f"{site.url}/check")},
        files={"file": ("mail.eml", phishing_email().as_bytes(), "message/rfc822")},
        timeout=60,
    )
    assert upload.status_code == 200 and "invoice.pdf.exe" in upload.text and "Received hop 1" in upload.text


def report(session: requests.Session, site: LiveServer, value: str, kind: str) -> requests.Response:
    token = csrf(session, f"{site.url}/check")
    return session.post(
        f"{site.url}/check/report", data={"value": value, "type": kind, "csrf_token": token}, timeout=30
    )


def test_reports_partners_sight_subscribers_queue_analysts_triage(site: LiveServer) -> None:
    anonymous = requests.post(
        f"{site.url}/check/report", data={"value": UNKNOWN}, allow_redirects=False, timeout=10
    )
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]

    partner = login(site, "partner")
    sighted = report(partner, site, CITY_IP, "ipv4")
    assert sighted.status_code == 200 and "recorded as your sighting" in sighted.text
    detail = requests.get(
        f"{site.url}/api/v1/indicators/{indicator_id(pattern_for('ipv4', CITY_IP))}",
        auth=site.auth("analyst"),
        timeout=10,
    ).json()
    assert detail["sightings"]["by_organization"][0]["organization"] == "partner"

    subscriber = login(site, "subscriber")
    queued = report(subscriber, site, UNKNOWN, "domain")
    assert queued.status_code == 200 and "queued for the city" in queued.text
    assert report(subscriber, site, "8.8.8.8", "ipv4").status_code == 400  # known benign
    assert report(subscriber, site, "not a domain!", "domain").status_code == 400
    assert report(subscriber, site, "second-report-site.com", "domain").status_code == 200
    assert subscriber.get(f"{site.url}/reports", timeout=10).status_code == 403

    analyst = login(site, "analyst")
    queue = analyst.get(f"{site.url}/reports", timeout=10).text
    assert UNKNOWN in queue and "second-report-site.com" in queue
    ids = re.findall(r'action="/reports/([0-9a-f-]+)"', queue)
    assert len(ids) == 2
    token = csrf(analyst, f"{site.url}/reports")
    no_reason = analyst.post(
        f"{site.url}/reports/{ids[1]}", data={"action": "reject", "csrf_token": token}, timeout=10
    )
    assert no_reason.status_code == 400 and "say why" in no_reason.text
    rejected = analyst.post(
        f"{site.url}/reports/{ids[1]}",
        data={"action": "reject", "reason": "a parked domain, nothing malicious", "csrf_token": token},
        timeout=10,
    )
    assert rejected.status_code == 200 and "a parked domain" in rejected.text
    accepted = analyst.post(
        f"{site.url}/reports/{ids[0]}", data={"action": "accept", "csrf_token": token}, timeout=30
    )
    assert accepted.status_code == 200 and "accepted" in accepted.text
    again = analyst.post(
        f"{site.url}/reports/{ids[0]}", data={"action": "accept", "csrf_token": token}, timeout=30
    )
    assert again.status_code == 400 and "already accepted" in again.text

    # The indicator is in the city collection, by the platform, without the reporter's name.
    new_id = indicator_id(pattern_for("domain", UNKNOWN))
    objects = requests.get(
        site.collection_url("city-indicators") + "objects/",
        params={"match[id]": new_id},
        auth=site.auth("analyst"),
        headers={"Accept": TAXII},
        timeout=10,
    ).json()["objects"]
    assert len(objects) == 1 and "subscriber" not in str(objects[0]).lower()
    assert by_value(check(site, UNKNOWN, "subscriber").json())[UNKNOWN]["verdict"] == "known-bad"


def test_checks_are_rate_limited(tmp_path: Path) -> None:
    live = start_server(tmp_path, prepare_store(tmp_path), CYBERLAB_CHECK__RATE_LIMIT="2 per minute")
    try:
        codes = [check(live, "example-one.com").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = check(live, "example-one.com")
        assert limited.headers.get("Retry-After") and "rate limit" in limited.json()["description"]
    finally:
        live.stop()
