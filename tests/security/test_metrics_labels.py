"""Issue 10 item 16: /metrics grew a label series for every invented HTTP method, and 350
repeated match[type] values cost 0.5 s. Labels now come from a fixed set, and filter values are
de-duplicated and capped (400 naming the cap)."""

from __future__ import annotations

import time

import requests

from tests.helpers import TAXII, LiveServer


def test_invented_methods_share_one_label(server: LiveServer) -> None:
    for n in range(20):
        requests.request(f"BREW{n}", f"{server.url}/taxii2/", timeout=10)
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert 'method="BREW' not in metrics
    assert 'method="other"' in metrics


def test_repeated_filter_values_are_merged_and_distinct_ones_capped(server: LiveServer) -> None:
    url = server.collection_url("public-blocklist") + "objects/"
    headers = {"Accept": TAXII}
    auth = server.auth("subscriber")
    started = time.monotonic()
    # Commas unescaped, as the issue sent them: gunicorn's request line holds at most 4 KiB.
    repeated = requests.get(
        url + "?match[type]=" + ",".join(["indicator"] * 350), headers=headers, auth=auth, timeout=20
    )
    assert repeated.status_code == 200
    assert time.monotonic() - started < 2
    distinct = ",".join(f"t-{n}" for n in range(150))
    capped = requests.get(url, params={"match[type]": distinct}, headers=headers, auth=auth, timeout=20)
    assert capped.status_code == 400
    assert "limits.filter_values" in capped.json()["description"]
    # The search API's filters are capped alike.
    search = requests.get(
        f"{server.url}/api/v1/search", params={"type": distinct}, auth=server.auth("analyst"), timeout=20
    )
    assert search.status_code == 400 and "limits.filter_values" in search.json()["description"]
