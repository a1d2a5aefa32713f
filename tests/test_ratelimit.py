"""Rate limits over HTTP: 429 with Retry-After and a TAXII error body, per credential."""

from __future__ import annotations

import base64
from pathlib import Path

import requests

from tests.helpers import TAXII, csrf, login, prepare_store, start_server


def test_per_key_quota_and_address_ceiling(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    server = start_server(
        tmp_path,
        keys,
        workers=1,
        CYBERLAB_RATE_LIMIT__PER_KEY="5 per minute",
        CYBERLAB_RATE_LIMIT__PER_ADDRESS="12 per minute",
    )
    url = server.root + "collections/"
    try:
        statuses = [
            requests.get(url, auth=server.auth("subscriber"), headers={"Accept": TAXII}, timeout=10)
            for _ in range(6)
        ]
        assert [r.status_code for r in statuses] == [200] * 5 + [429]
        limited = statuses[-1]
        assert limited.headers["Content-Type"] == TAXII
        assert limited.json()["http_status"] == "429" and "retry after" in limited.json()["description"]
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        # Another account has its own quota...
        assert requests.get(url, auth=server.auth("partner"), headers={"Accept": TAXII}, timeout=10).ok
        # ...and a wrong key claiming the subscriber's name does not spend (or reach) the subscriber's.
        forged = "Basic " + base64.b64encode(b"subscriber:not-the-key").decode()
        assert (
            requests.get(url, headers={"Accept": TAXII, "Authorization": forged}, timeout=10).status_code
            == 401
        )
        # Health checks are never limited.
        assert all(requests.get(server.url + "/healthz", timeout=5).ok for _ in range(20))
        # The address ceiling (12) catches everything else from this address.
        more = [
            requests.get(url, auth=server.auth("analyst"), headers={"Accept": TAXII}, timeout=10).status_code
            for _ in range(6)
        ]
        assert 429 in more
    finally:
        server.stop()


def test_exports_and_uploads_have_quotas_of_their_own(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    server = start_server(
        tmp_path,
        keys,
        workers=1,
        CYBERLAB_RATE_LIMIT__EXPORTS="3 per hour",
        CYBERLAB_RATE_LIMIT__UPLOADS="2 per hour",
    )
    collection = server.collection_url("public-blocklist").rstrip("/").rsplit("/", 1)[-1]
    export = f"{server.url}/api/v1/collections/{collection}/export/ip.txt"
    try:
        polls = [requests.get(export, auth=server.auth("subscriber"), timeout=10) for _ in range(4)]
        assert [r.status_code for r in polls] == [200, 200, 200, 429]
        assert polls[-1].json()["http_status"] == "429"
        assert 0 < int(polls[-1].headers["Retry-After"]) <= 3600
        # The general quota is untouched: the same key still reads TAXII.
        assert requests.get(
            server.root + "collections/",
            auth=server.auth("subscriber"),
            headers={"Accept": TAXII},
            timeout=10,
        ).ok
        body = {"sightings": [{"value": "1.2.3.4"}]}
        uploads = [
            requests.post(
                f"{server.url}/api/v1/sightings", json=body, auth=server.auth("partner"), timeout=20
            )
            for _ in range(3)
        ]
        assert [r.status_code for r in uploads] == [200, 200, 429]
        assert "rate limit exceeded" in uploads[-1].json()["description"]
        # Another partner key has its own upload quota; reading is not an upload.
        assert requests.get(export, auth=server.auth("partner"), timeout=10).ok
        assert requests.post(
            f"{server.url}/api/v1/sightings", json=body, auth=server.auth("analyst"), timeout=20
        ).ok
        # The web form counts per logged-in account, apart from the account's API key.
        browser = login(server, "analyst")
        form = f"{server.url}/sightings/upload"
        assert browser.get(form, timeout=10).ok  # showing the form is not an upload
        posts = [
            browser.post(form, data={"csrf_token": csrf(browser, form), "values": "1.2.3.5"}, timeout=20)
            for _ in range(3)
        ]
        assert [r.status_code for r in posts] == [200, 200, 429]
        assert (
            posts[-1].headers["Content-Type"].startswith("text/html") and "Retry-After" in posts[-1].headers
        )
        assert "rate limit exceeded" in posts[-1].text
    finally:
        server.stop()
