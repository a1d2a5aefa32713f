"""Issue 10 item 11: amplification.

A 1.9 MiB envelope of 1,000,000 non-objects returned a 50 MiB status and stored it, and
`{"sightings":[1,1,...]}` returned a 90 MiB receipt. Envelopes and uploads are now capped (413
naming the cap, before any work) and a status keeps at most limits.status_failures details.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.helpers import TAXII, LiveServer, csrf, prepare_store, start_server, web_login

# The test servers accept 2,000,000-byte bodies: as many non-objects as fit, like the issue's.
NON_OBJECTS = 990_000


def _post_envelope(server: LiveServer, body: bytes) -> requests.Response:
    return requests.post(
        server.collection_url("inbox") + "objects/",
        data=body,
        auth=server.auth("partner"),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=60,
    )


def test_a_huge_envelope_of_non_objects_is_a_413_naming_the_cap(server: LiveServer) -> None:
    body = b'{"objects":[' + b",".join([b"1"] * NON_OBJECTS) + b"]}"
    assert len(body) < 2_000_000
    started = time.monotonic()
    response = _post_envelope(server, body)
    assert time.monotonic() - started < 10
    assert response.status_code == 413, response.status_code
    assert len(response.content) < 2000
    assert "limits.envelope_objects" in response.json()["description"]
    assert "990,000" in response.json()["description"]


def test_a_huge_sightings_upload_is_a_413_not_a_90_mib_receipt(server: LiveServer) -> None:
    body = b'{"sightings":[' + b",".join([b"1"] * NON_OBJECTS) + b"]}"
    started = time.monotonic()
    response = requests.post(
        f"{server.url}/api/v1/sightings",
        data=body,
        auth=server.auth("partner"),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert time.monotonic() - started < 10
    assert response.status_code == 413 and len(response.content) < 2000
    assert "limits.upload_lines" in response.json()["description"]
    # The same for a CSV file, and for the web form.
    csv = "\n".join(f"198.51.100.{n % 250}" for n in range(10_002))
    as_csv = requests.post(
        f"{server.url}/api/v1/sightings",
        data=csv,
        auth=server.auth("partner"),
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )
    assert as_csv.status_code == 413 and "limits.upload_lines" in as_csv.text
    partner, login = web_login(server.url, "partner", server.keys["partner"])
    assert login.status_code == 302
    token = csrf(partner, f"{server.url}/sightings/upload")
    form = partner.post(
        f"{server.url}/sightings/upload", data={"csrf_token": token, "values": csv}, timeout=60
    )
    assert form.status_code == 413 and "limits.upload_lines" in form.text


def test_a_status_keeps_a_bounded_number_of_failure_details(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    server = start_server(tmp_path, keys, CYBERLAB_LIMITS__STATUS_FAILURES="10")
    try:
        response = _post_envelope(server, b'{"objects":[' + b",".join([b"1"] * 500) + b"]}")
        assert response.status_code == 202
        status = response.json()
        assert status["failure_count"] == 500 and status["total_count"] == 500
        assert len(status["failures"]) == 10
        stored = requests.get(
            f"{server.root}status/{status['id']}/",
            auth=server.auth("partner"),
            headers={"Accept": TAXII},
            timeout=10,
        ).json()
        assert stored["failure_count"] == 500 and len(stored["failures"]) == 10
    finally:
        server.stop()
