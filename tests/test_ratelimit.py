"""Rate limits over HTTP: 429 with Retry-After and a TAXII error body, per credential."""

from __future__ import annotations

import base64
from pathlib import Path

import requests

from tests.conftest import TAXII, prepare_store, start_server


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
