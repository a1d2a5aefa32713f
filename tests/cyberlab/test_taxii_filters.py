"""TAXII 2.1 filters, table-driven, over real HTTP: objects and manifest must agree case by case."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from indexer.timestamps import parse_timestamp
from tests.helpers import TAXII, LiveServer


def _sdo(stix_type: str, n: int, stamp: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": stix_type,
        "spec_version": "2.1",
        "id": f"{stix_type}--{uuid.UUID(int=n, version=4)}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": stamp,
        **extra,
    }


def _indicator(n: int, stamp: str) -> dict[str, Any]:
    return _sdo(
        "indicator",
        n,
        stamp,
        pattern=f"[ipv4-addr:value = '198.51.100.{n}']",
        pattern_type="stix",
        valid_from="2026-01-01T00:00:00Z",
    )


A1, A2, A3 = (_indicator(1, f"2026-0{m}-01T00:00:00.000Z") for m in (1, 2, 3))
B1 = _sdo("malware", 2, "2026-01-01T00:00:00.000Z", name="Mirai", is_family=True)
C1, C2 = (_indicator(3, f"2026-0{m}-15T00:00:00.000Z") for m in (1, 4))
D1 = _sdo("identity", 4, "2026-01-01T00:00:00.000Z", name="Partner A", identity_class="organization")
E = {
    "type": "ipv4-addr",
    "spec_version": "2.1",
    "id": f"ipv4-addr--{uuid.UUID(int=5, version=4)}",
    "value": "203.0.113.5",
}
# Posted in this order: A3 arrives before the older A2, so "last" must not mean "last added".
POSTED = [A1, B1, C1, D1, E, A3, A2, C2]
LABELS = {"A1": A1, "A2": A2, "A3": A3, "B1": B1, "C1": C1, "C2": C2, "D1": D1, "E": E}


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["id"], obj.get("modified", "1970-01-01T00:00:00.000Z")


@pytest.fixture(scope="module")
def filters(server: LiveServer) -> LiveServer:
    for obj in POSTED:  # one POST each: distinct, known date_added order
        server.post_objects("filters", [obj])
    return server


def get(server: LiveServer, endpoint: str, params: dict[str, str]) -> requests.Response:
    response = requests.get(
        server.collection_url("filters") + endpoint,
        params=params,
        auth=server.auth("subscriber"),
        headers={"Accept": TAXII},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


CASES: list[tuple[dict[str, str], list[str]]] = [
    ({}, ["B1", "D1", "E", "A3", "C2"]),
    ({"match[type]": "indicator"}, ["A3", "C2"]),
    ({"match[type]": "indicator,malware"}, ["B1", "A3", "C2"]),
    ({"match[type]": "attack-pattern"}, []),
    ({"match[id]": A1["id"]}, ["A3"]),
    ({"match[id]": f"{A1['id']},{B1['id']}"}, ["B1", "A3"]),
    ({"match[id]": f"{A1['id']},{B1['id']}", "match[type]": "malware"}, ["B1"]),  # fields AND
    ({"match[version]": "first"}, ["A1", "B1", "C1", "D1", "E"]),
    ({"match[version]": "last"}, ["B1", "D1", "E", "A3", "C2"]),
    ({"match[version]": "all"}, ["A1", "B1", "C1", "D1", "E", "A3", "A2", "C2"]),
    ({"match[version]": "first,last"}, ["A1", "B1", "C1", "D1", "E", "A3", "C2"]),
    ({"match[version]": A2["modified"]}, ["A2"]),
    ({"match[version]": "2026-02-01T00:00:00Z"}, ["A2"]),  # same instant, other spelling
    ({"match[version]": f"{A2['modified']},{C1['modified']}"}, ["C1", "A2"]),
    ({"match[version]": f"first,{A2['modified']}"}, ["A1", "B1", "C1", "D1", "E", "A2"]),
    ({"match[id]": A1["id"], "match[version]": "all"}, ["A1", "A3", "A2"]),
    ({"match[spec_version]": "2.1"}, ["B1", "D1", "E", "A3", "C2"]),
    ({"match[spec_version]": "2.0"}, []),
    ({"match[spec_version]": "2.0,2.1", "match[type]": "identity"}, ["D1"]),
]


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_filter_cases(filters: LiveServer, params: dict[str, str], expected: list[str]) -> None:
    objects = get(filters, "objects/", params).json().get("objects", [])
    assert [key(o) for o in objects] == [key(LABELS[label]) for label in expected]
    manifest = get(filters, "manifest/", params).json().get("objects", [])
    assert [(m["id"], m["version"]) for m in manifest] == [key(LABELS[label]) for label in expected]


def test_added_after_and_date_added_headers(filters: LiveServer) -> None:
    everything = get(filters, "manifest/", {"match[version]": "all"})
    records = everything.json()["objects"]
    assert everything.headers["X-TAXII-Date-Added-First"] == records[0]["date_added"]
    assert everything.headers["X-TAXII-Date-Added-Last"] == records[-1]["date_added"]
    for header in ("X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last"):
        assert len(everything.headers[header].split(".")[1]) == 7  # microseconds and Z
    cut = records[4]["date_added"]  # E was the fifth posted
    later = get(filters, "objects/", {"match[version]": "all", "added_after": cut}).json()["objects"]
    assert [key(o) for o in later] == [key(LABELS[label]) for label in ("A3", "A2", "C2")]
    # "last" combined with added_after: latest versions added after the cut.
    latest = get(filters, "objects/", {"added_after": cut}).json()["objects"]
    assert [key(o) for o in latest] == [key(A3), key(C2)]


def test_resuming_from_date_added_last_skips_and_repeats_nothing(filters: LiveServer) -> None:
    seen: list[tuple[str, str]] = []
    params = {"match[version]": "all", "limit": "3"}
    for _ in range(10):
        response = get(filters, "objects/", params)
        seen.extend(key(o) for o in response.json().get("objects", []))
        params["added_after"] = response.headers["X-TAXII-Date-Added-Last"]
        if not response.json().get("objects"):
            break
    assert seen == [key(o) for o in POSTED]


def test_empty_result_has_headers_and_envelope_without_objects(filters: LiveServer) -> None:
    response = get(filters, "objects/", {"match[type]": "campaign", "added_after": "2026-01-01T00:00:00Z"})
    assert response.json() == {"more": False}
    assert response.headers["X-TAXII-Date-Added-First"] == "2026-01-01T00:00:00.000000Z"
    assert response.headers["X-TAXII-Date-Added-Last"] == "2026-01-01T00:00:00.000000Z"


def test_object_endpoint_filters_and_headers(filters: LiveServer) -> None:
    path = f"objects/{A1['id']}/"
    assert [key(o) for o in get(filters, path, {}).json()["objects"]] == [key(A3)]
    every = get(filters, path, {"match[version]": "all", "limit": "2"})
    body = every.json()
    assert [key(o) for o in body["objects"]] == [key(A1), key(A3)] and body["more"] is True
    rest = get(filters, path, {"match[version]": "all", "limit": "2", "next": body["next"]}).json()
    assert [key(o) for o in rest["objects"]] == [key(A2)] and rest["more"] is False
    assert parse_timestamp(every.headers["X-TAXII-Date-Added-Last"]) > parse_timestamp(
        every.headers["X-TAXII-Date-Added-First"]
    )


def test_versions_endpoint_pages(filters: LiveServer) -> None:
    path = f"objects/{A1['id']}/versions/"
    full = get(filters, path, {})
    assert full.json() == {"more": False, "versions": [A1["modified"], A3["modified"], A2["modified"]]}
    assert "X-TAXII-Date-Added-Last" in full.headers
    first = get(filters, path, {"limit": "1"}).json()
    assert first["versions"] == [A1["modified"]] and first["more"]
    second = get(filters, path, {"limit": "1", "next": first["next"]}).json()
    assert second["versions"] == [A3["modified"]]
