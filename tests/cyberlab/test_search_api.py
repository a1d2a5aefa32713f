"""The analysts' search API and the pivot over real HTTP: access, filters, paging, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.data import DOMAIN, HOSTILE_TEXT, IDENTITIES, INDICATORS, IP, SIGHTINGS, numbered_indicator
from tests.helpers import TAXII, LiveServer, login, prepare_store, start_server


@pytest.fixture(scope="module")
def analysis(server: LiveServer) -> LiveServer:
    response = requests.post(
        server.collection_url("analysis") + "objects/",
        json={"objects": [*IDENTITIES, *INDICATORS, *SIGHTINGS]},
        auth=server.auth("admin"),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=10,
    )
    body = response.json()
    assert body["success_count"] == len(IDENTITIES) + len(INDICATORS) + len(SIGHTINGS), body["failures"]
    return server


def search(server: LiveServer, role: str | None = "analyst", **params: Any) -> requests.Response:
    params.setdefault("collection", "analysis")
    return requests.get(
        f"{server.url}/api/v1/search",
        params=params,
        auth=server.auth(role) if role else None,
        timeout=10,
    )


def ids(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


def test_only_analysts_search(analysis: LiveServer) -> None:
    assert search(analysis, role=None).status_code == 401
    forbidden = search(analysis, role="subscriber")
    assert forbidden.status_code == 403
    assert forbidden.headers["Content-Type"] == "application/json"
    assert "analyst" in forbidden.json()["description"]
    assert search(analysis, role="admin").status_code == 200


def test_filters_reach_the_store(analysis: LiveServer) -> None:
    assert ids(search(analysis, value="198.51.100.7")) == [IP["id"]]
    assert set(ids(search(analysis, cidr="198.51.100.0/24", type="indicator"))) >= {IP["id"]}
    assert ids(search(analysis, q="brute force")) == [IP["id"]]
    assert ids(search(analysis, domain="example.com", tlp="amber")) == [DOMAIN["id"]]
    assert ids(search(analysis, type="indicator", has_sightings="true", sort="-sightings")) == [
        IP["id"],
        DOMAIN["id"],
    ]


def test_a_hit_says_what_analysts_need(analysis: LiveServer) -> None:
    (hit,) = search(analysis, value="198.51.100.7").json()["results"]
    assert hit["values"] == [{"kind": "ip", "value": "198.51.100.7"}]
    assert hit["collection"] == "analysis"
    assert (hit["sightings"], hit["organizations"]) == (7, 2)
    assert hit["last_seen"] == "2026-03-01T00:00:00Z"
    assert hit["links"]["self"] == f"/api/v1/indicators/{IP['id']}"


def test_hostile_query_strings_are_plain_text(analysis: LiveServer) -> None:
    for text in ("' OR 1=1 --", '"', "title:*", "x) AND (y", "NEAR(a b)", "<script>", "%00", "x\x00y"):
        response = search(analysis, q=text)
        assert response.status_code == 200, (text, response.text)
        assert set(ids(response)) <= {HOSTILE_TEXT["id"]}
    # A NUL in a word (found by the schemathesis run: SQLite's FTS5 stopped reading at it, a 503).
    assert ids(search(analysis, q="brute\x00force")) == [IP["id"]]


def test_cursor_paging_visits_every_hit_once(analysis: LiveServer) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"type": "indicator", "limit": 2, "sort": "first_seen"}
    while True:
        body = search(analysis, **params).json()
        seen.extend(r["id"] for r in body["results"])
        if not body["more"]:
            break
        params["next"] = body["next"]
    assert sorted(seen) == sorted(o["id"] for o in INDICATORS)
    # A cursor is bound to its filters.
    other = search(analysis, type="sighting", limit=2, next=params.get("next", "x"))
    assert other.status_code == 400


def test_facets_and_histogram(analysis: LiveServer) -> None:
    body = search(analysis, facets="true", histogram="true", limit=1).json()
    assert body["facets"]["type"]["indicator"] == len(INDICATORS)
    assert body["facets"]["label"]["phishing"] == 1
    assert body["facets_sampled"] is False and "facets_sample_size" not in body
    assert body["histogram"] == [{"day": "2026-03-01", "sightings": 5}, {"day": "2026-03-02", "sightings": 3}]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"cidr": "10.0.0.0/99"}, "not an IP address or CIDR"),
        ({"sort": "value; DROP TABLE"}, "sort must be one of"),
        ({"limit": "0"}, "limit must be between 1 and 200"),
        ({"limit": "many"}, "limit must be a whole number"),
        ({"tlp": "purple"}, "tlp must be among"),
        ({"last_seen_after": "yesterday"}, "RFC 3339"),
        ({"colour": "red"}, "unknown parameter(s) colour"),
        ({"q": '"open', "syntax": "advanced"}, "could not be parsed"),
        ({"syntax": "lucene"}, "syntax must be plain or advanced"),
        ({"next": "not-a-token"}, "not valid"),
        ({"collection": "nope"}, "no collection 'nope'"),
        ({"q": "x" * 1001}, "limited to 1000"),
        ({"has_sightings": "maybe"}, "true or false"),
    ],
)
def test_bad_parameters_are_400_saying_what_was_wrong(
    analysis: LiveServer, params: dict[str, str], says: str
) -> None:
    response = search(analysis, **params)
    assert response.status_code == 400, response.text
    assert says in response.json()["description"]


def test_pivot_shows_versions_sightings_and_names_to_analysts_only(analysis: LiveServer) -> None:
    url = f"{analysis.url}/api/v1/indicators/{IP['id']}"
    detail = requests.get(url, auth=analysis.auth("analyst"), timeout=10).json()
    assert detail["object"]["id"] == IP["id"]
    assert [v["modified"] for v in detail["versions"]] == [IP["modified"]]
    assert detail["sightings"]["organizations"] == 2 and detail["sightings"]["count"] == 7
    names = {s["organization"] for s in detail["sightings"]["by_organization"]}
    assert names == {"Acme Bakery", "Main Street Dental"}
    public = requests.get(url, auth=analysis.auth("subscriber"), timeout=10).json()
    assert public["sightings"]["organizations"] == 2
    assert "by_organization" not in public["sightings"]
    assert "Acme" not in str(public)
    # Partners may not read the collection, so for them it does not exist.
    assert requests.get(url, auth=analysis.auth("partner"), timeout=10).status_code == 404
    missing = requests.get(url.replace("0000-4000", "0000-4999"), auth=analysis.auth("analyst"), timeout=10)
    assert missing.status_code == 404


def test_facets_of_many_matches_say_they_are_sampled(tmp_path: Path) -> None:
    """search.facet_sample_size: past it (here 5 matches) the API says the facets are a sample."""
    live = start_server(tmp_path, prepare_store(tmp_path), CYBERLAB_SEARCH__FACET_SAMPLE_SIZE="5")
    try:
        many = [
            numbered_indicator(
                400 + i, f"[domain-name:value = 'h{i}.sampled.example']", "2026-02-01T00:00:00.000Z"
            )
            for i in range(60)
        ]
        response = requests.post(
            live.collection_url("analysis") + "objects/",
            json={"objects": [*INDICATORS, *many]},
            auth=live.auth("admin"),
            headers={"Accept": TAXII, "Content-Type": TAXII},
            timeout=30,
        )
        assert response.json()["success_count"] == len(INDICATORS) + len(many), response.text
        few = search(live, q="brute", facets="true").json()
        assert few["facets_sampled"] is False and few["facets"]["type"] == {"indicator": 1}
        sampled = search(live, q="sampled", facets="true").json()
        assert sampled["facets_sampled"] is True and 0 < sampled["facets_sample_size"] < 60, sampled
        assert abs(sampled["facets"]["type"]["indicator"] - 60) <= 1  # scaled up to all matches
        assert sampled["total"] == 60
        session = login(live, "analyst")  # the web facet panel says so too
        page = session.get(f"{live.url}/search", params={"q": "sampled"}, timeout=10).text
        assert 'id="facets-sample"' in page and "Counts from a sample of" in page
        assert (
            'id="facets-sample"'
            not in session.get(f"{live.url}/search", params={"q": "brute"}, timeout=10).text
        )
    finally:
        live.stop()
