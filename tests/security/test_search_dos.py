"""Issue 10 item 2: anonymous denial of service through search.

`GET /search?syntax=advanced&q=a* OR a* OR ...` (200 prefixes, 1 KB, no login) held a worker 14 s.
Now query syntax is for analysts only (others get plain words and a note), a query's terms and
prefix terms are capped, and every search stops at a time budget with a 422 that says so.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.data import similar_indicators
from tests.helpers import prepare_store, seed, start_server, web_login

ATTACK = " OR ".join(["a*"] * 167)  # 998 characters: as many prefixes as the 1 KB limit of q holds


def test_the_anonymous_attack_is_refused_fast_and_syntax_is_for_analysts(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    seed(tmp_path, "public-blocklist", similar_indicators(1500))
    server = start_server(tmp_path, keys)
    try:
        started = time.monotonic()
        attack = requests.get(f"{server.url}/search", params={"syntax": "advanced", "q": ATTACK}, timeout=60)
        took = time.monotonic() - started
        assert attack.status_code == 400, attack.status_code
        assert "search.max_terms" in attack.text and "text/html" in attack.headers["Content-Type"]
        assert took < 2, took
        assert requests.get(f"{server.url}/healthz", timeout=5).ok

        # A short advanced query from an anonymous visitor is searched as plain words, and says so.
        plain = requests.get(
            f"{server.url}/search", params={"syntax": "advanced", "q": "alpha OR a*"}, timeout=20
        )
        assert plain.status_code == 200
        assert 'id="search-note"' in plain.text and "plain text" in plain.text
        # (as plain words, "OR" and "a*" must all appear: nothing matches)
        assert "0 results" in plain.text

        # An analyst's advanced query is query syntax: the prefix matches.
        analyst, response = web_login(server.url, "analyst", server.keys["analyst"])
        assert response.status_code == 302
        page = analyst.get(f"{server.url}/search", params={"syntax": "advanced", "q": "a0001*"}, timeout=20)
        assert page.status_code == 200 and 'id="search-note"' not in page.text
        assert "10 results" in page.text, page.text[:3000]

        # The JSON API: prefix terms are capped for analysts too.
        many = " OR ".join(f"a{n}*" for n in range(20))
        capped = requests.get(
            f"{server.url}/api/v1/search",
            params={"syntax": "advanced", "q": many},
            auth=server.auth("analyst"),
            timeout=20,
        )
        assert capped.status_code == 400 and "search.max_prefix_terms" in capped.json()["description"]
    finally:
        server.stop()


def test_an_expensive_analyst_search_hits_the_time_budget(tmp_path: Path) -> None:
    keys = prepare_store(tmp_path)
    seed(tmp_path, "analysis", similar_indicators(3000))
    server = start_server(tmp_path, keys, CYBERLAB_SEARCH__TIME_BUDGET_MS="1")
    try:
        params = {"syntax": "advanced", "q": "a* OR ab* OR abc*", "facets": "true", "collection": "analysis"}
        started = time.monotonic()
        response = requests.get(
            f"{server.url}/api/v1/search", params=params, auth=server.auth("analyst"), timeout=60
        )
        assert time.monotonic() - started < 5
        assert response.status_code == 422, response.text[:500]
        body = response.json()
        assert "took longer than 1 ms" in body["description"] and "narrow" in body["description"]

        # The web page answers the same 422, as a page.
        analyst, login = web_login(server.url, "analyst", server.keys["analyst"])
        assert login.status_code == 302
        page = analyst.get(f"{server.url}/search", params=params, timeout=60)
        assert page.status_code == 422 and "took longer than 1 ms" in page.text
    finally:
        server.stop()
