"""The web pages over real HTTP: escaping of hostile values, login, CSRF, sightings upload.

These talk HTTP with requests (no JavaScript is needed to read or use the pages).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.data import HOSTILE, RTL
from tests.helpers import LiveServer, csrf, login, make_settings, prepare_store, start_server, web_login


@pytest.fixture(scope="module")
def web(server: LiveServer) -> LiveServer:
    server.post_objects("public-blocklist", [HOSTILE])
    return server


def test_hostile_values_render_as_text_everywhere(web: LiveServer) -> None:
    pages = [
        requests.get(f"{web.url}/", timeout=10),
        requests.get(f"{web.url}/indicators/{HOSTILE['id']}", timeout=10),
        requests.get(f"{web.url}/search", params={"q": "javascript"}, timeout=10),
        requests.get(f"{web.url}/search", params={"q": "<script>alert('q')</script>"}, timeout=10),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.text
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
        assert 'href="javascript:' not in html and RTL not in html
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    detail = pages[1].text
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in detail
    assert "javascript:alert(1)//\\u202egpj.exe" in detail  # the RTL override shown, not obeyed
    assert "(10,029 characters)" in detail  # a 10 kB description is cut
    assert "javascript:alert(1)" in pages[2].text


def test_private_indicators_need_a_login(web: LiveServer) -> None:
    assert (
        requests.get(f"{web.url}/indicators/{HOSTILE['id']}".replace("-4", "-5", 1), timeout=10).status_code
        == 404
    )
    subscriber, response = web_login(web.url, "subscriber", web.keys["subscriber"])
    assert response.status_code == 302, response.text
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = subscriber.get(f"{web.url}/subscribe", timeout=10).text
    assert "City SOC indicators" in page and "export/ip.txt" in page
    assert "Partner sightings" not in page
    # a copy-paste line per firewall / DNS filter format
    for name in ("all.rpz", "domain.hosts", "all.zeek", "ip.edl", "url.edl", "domain.edl", "all.rules"):
        assert f"/export/{name}" in page, name
    assert "at most 50000 entries" in page
    assert "suricata-update add-source cyberlab-" in page and "between 9000000 and 9999999" in page


def test_forms_without_a_valid_csrf_token_are_refused(web: LiveServer) -> None:
    session = requests.Session()
    response = session.post(
        f"{web.url}/login", data={"name": "partner", "key": web.keys["partner"]}, timeout=10
    )
    assert response.status_code == 400 and "did not come from this site" in response.text
    assert response.headers["Content-Type"].startswith("text/html")


def test_wrong_key_says_so(web: LiveServer) -> None:
    session = requests.Session()
    token = csrf(session, f"{web.url}/login")
    response = session.post(
        f"{web.url}/login", data={"name": "partner", "key": "nope", "csrf_token": token}, timeout=10
    )
    assert response.status_code == 200 and "do not match an active account" in response.text


def test_partner_uploads_a_csv_and_reads_the_receipt(web: LiveServer) -> None:
    partner = login(web, "partner")
    token = csrf(partner, f"{web.url}/sightings/upload")
    csv_body = b"value,type,count\n9.9.8.1,,2\nnot a value\n9.9.8.1,,2\n"
    response = partner.post(
        f"{web.url}/sightings/upload",
        data={"csrf_token": token},
        files={"file": ("seen.csv", csv_body, "text/csv")},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert "1 accepted, 0 already reported, 2 rejected." in response.text
    again = partner.post(
        f"{web.url}/sightings/upload",
        data={"csrf_token": token, "values": "9.9.8.1,,2"},
        timeout=20,
    )
    assert "0 accepted, 1 already reported, 0 rejected." in again.text


def test_subscribers_may_not_upload_and_anonymous_users_are_sent_to_login(web: LiveServer) -> None:
    assert requests.get(f"{web.url}/sightings/upload", allow_redirects=False, timeout=10).status_code == 302
    subscriber = login(web, "subscriber")
    assert subscriber.get(f"{web.url}/sightings/upload", timeout=10).status_code == 403


def test_an_oversized_upload_is_a_clear_413_page(web: LiveServer) -> None:
    partner = login(web, "partner")
    token = csrf(partner, f"{web.url}/sightings/upload")
    limit = make_settings(web.data_dir).taxii.max_content_length
    response = partner.post(
        f"{web.url}/sightings/upload",
        data={"csrf_token": token},
        files={"file": ("huge.csv", b"9.9.8.1\n" * (limit // 8 + 1), "text/csv")},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("text/html")
    assert f"max_content_length ({limit} bytes)" in response.text


def test_an_expired_session_asks_to_log_in_again_and_accepts_nothing(tmp_path: Path) -> None:
    server = start_server(tmp_path, prepare_store(tmp_path), CYBERLAB_SERVER__SESSION_HOURS="0.0005")  # 1.8 s
    try:
        partner = login(server, "partner")
        token = csrf(partner, f"{server.url}/sightings/upload")
        time.sleep(2.5)
        late = partner.post(
            f"{server.url}/sightings/upload",
            data={"csrf_token": token, "values": "9.9.8.77"},
            allow_redirects=False,
            timeout=20,
        )
        assert late.status_code == 302 and late.headers["Location"].endswith("/login")
        detail = requests.get(
            f"{server.url}/api/v1/search",
            params={"value": "9.9.8.77"},
            auth=server.auth("analyst"),
            timeout=10,
        ).json()
        assert detail["total"] == 0  # nothing was accepted
    finally:
        server.stop()
