"""Issue 10 item 10: rate-limit keys.

After spending its quota, the same key sent as `basic `, `BASIC `, `Basic  ` got a fresh quota:
the limit is now keyed by the parsed credential. Behind the documented nginx every client is
127.0.0.1: X-Forwarded-For is believed only from server.trusted_proxies, and only then.
"""

from __future__ import annotations

from pathlib import Path

import requests

from tests.helpers import TAXII, basic, prepare_store, start_server


def test_one_key_has_one_quota_however_the_header_is_spelt(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    server = start_server(tmp_path, keys, CYBERLAB_RATE_LIMIT__PER_KEY="5 per minute")
    url = server.root + "collections/"
    key = keys["subscriber"]
    try:
        spent = [
            requests.get(url, auth=server.auth("subscriber"), headers={"Accept": TAXII}, timeout=10)
            for _ in range(6)
        ]
        assert [r.status_code for r in spent] == [200] * 5 + [429]
        for scheme, gap in (("basic", " "), ("BASIC", " "), ("Basic", "  "), ("bAsIc", "\t ")):
            header = basic("subscriber", key, scheme, gap)
            again = requests.get(url, headers={"Accept": TAXII, "Authorization": header}, timeout=10)
            assert again.status_code == 429, (scheme, gap, again.status_code)
        # Another account keeps its own quota.
        assert requests.get(url, auth=server.auth("partner"), headers={"Accept": TAXII}, timeout=10).ok
    finally:
        server.stop()


def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    limits = {"CYBERLAB_RATE_LIMIT__PER_ADDRESS": "4 per minute"}
    direct = start_server(tmp_path, keys, **limits)
    try:
        # Straight to gunicorn: a client cannot pick a fresh address with the header.
        codes = [
            requests.get(
                f"{direct.url}/taxii2/",
                headers={"Accept": TAXII, "X-Forwarded-For": f"198.51.100.{n}"},
                timeout=10,
            ).status_code
            for n in range(6)
        ]
        # (the fixture's start-up probes count too: at most 4 pass, and the header changes nothing)
        assert codes.count(200) <= 4 and codes[-2:] == [429, 429], codes
    finally:
        direct.stop()
    behind = start_server(tmp_path, keys, CYBERLAB_SERVER__TRUSTED_PROXIES="127.0.0.1", **limits)
    try:
        # Behind a trusted proxy (here: this test, from 127.0.0.1), each client is its own address...
        for n in range(6):
            response = requests.get(
                f"{behind.url}/taxii2/",
                headers={"Accept": TAXII, "X-Forwarded-For": f"198.51.100.{n}"},
                timeout=10,
            )
            assert response.status_code == 200, n
        # ...and one client still meets its ceiling; a forged first hop does not help it, since
        # the address comes from the entry the proxy appended (proxy_hops = 1).
        same = [
            requests.get(
                f"{behind.url}/taxii2/",
                headers={"Accept": TAXII, "X-Forwarded-For": f"10.9.9.{n}, 203.0.113.9"},
                timeout=10,
            ).status_code
            for n in range(6)
        ]
        assert same == [200] * 4 + [429] * 2, same
    finally:
        behind.stop()
