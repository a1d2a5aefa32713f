"""cyberlab.indicators without a server: a real SQLite store, the test settings and a Caller passed
in, values out (the same answers over HTTP are in test_search_api.py and test_web.py)."""

from __future__ import annotations

from typing import Any

import pytest

from config import Settings
from cyberlab.auth.caller import ANONYMOUS, Caller
from cyberlab.indicators import HitView, indicator_detail
from indexer.ingest import ingest_objects
from indexer.store.base import Store
from indexer.tlp import MARKING_FOR_LEVEL

SEEN = "2026-03-01T10:00:00.000Z"
ORG = "identity--0b000000-0000-4000-8000-00000000000a"
IP = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": "indicator--0b000000-0000-4000-8000-000000000001",
    "created": "2026-01-01T00:00:00.000Z",
    "modified": "2026-03-01T00:00:00.000Z",
    "name": "Malicious IP address: 198.51.100.9",
    "pattern": "[ipv4-addr:value = '198.51.100.9']",
    "pattern_type": "stix",
    "valid_from": "2026-01-01T00:00:00.000Z",
    "object_marking_refs": [MARKING_FOR_LEVEL["green"]],
}
OBJECTS: list[dict[str, Any]] = [
    {
        "type": "identity",
        "spec_version": "2.1",
        "id": ORG,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "Acme Bakery",
        "identity_class": "organization",
    },
    IP,
    {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--0b000000-0000-4000-8000-000000000002",
        "created": SEEN,
        "modified": SEEN,
        "sighting_of_ref": IP["id"],
        "where_sighted_refs": [ORG],
        "count": 3,
        "first_seen": SEEN,
        "last_seen": SEEN,
    },
]


@pytest.fixture
def filled(settings: Settings, store: Store) -> Store:
    analysis = settings.collection("analysis")
    assert analysis is not None
    report = ingest_objects(store, analysis, OBJECTS, sanitizer=None)
    assert not report.failures, report.failures
    return store


def test_analysts_see_who_reported_a_sighting(settings: Settings, filled: Store) -> None:
    detail = indicator_detail(filled, settings, Caller("ana", "analyst"), IP["id"])
    assert detail is not None
    assert isinstance(detail.summary, HitView)
    assert (detail.summary.collection, detail.collections) == ("analysis", ["analysis"])
    assert detail.summary.values == [{"kind": "ip", "value": "198.51.100.9"}]
    assert detail.object is not None and detail.object["id"] == IP["id"]
    assert (detail.sightings.organizations, detail.sightings.count) == (1, 3)
    assert detail.sightings.by_organization is not None
    assert [s.organization for s in detail.sightings.by_organization] == ["Acme Bakery"]
    body = detail.as_json()
    assert body["sightings"]["by_organization"][0]["organization"] == "Acme Bakery"
    assert body["summary"]["links"] == {"self": f"/api/v1/indicators/{IP['id']}"}
    # times as short as the instant allows: the indicator's own, then its sightings'
    assert body["summary"]["last_seen"] == "2026-03-01T00:00:00Z"
    assert body["sightings"]["last_seen"] == "2026-03-01T10:00:00Z"


def test_subscribers_get_the_counts_not_the_names(settings: Settings, filled: Store) -> None:
    detail = indicator_detail(filled, settings, Caller("sub", "subscriber"), IP["id"])
    assert detail is not None
    assert (detail.sightings.organizations, detail.sightings.by_organization) == (1, None)
    body = detail.as_json()
    assert "by_organization" not in body["sightings"]
    assert "Acme" not in str(body)


@pytest.mark.parametrize("caller", [ANONYMOUS, Caller("pat", "partner")])
def test_who_may_not_read_the_collection_learns_nothing(
    settings: Settings, filled: Store, caller: Caller
) -> None:
    assert indicator_detail(filled, settings, caller, IP["id"]) is None
    assert indicator_detail(filled, settings, Caller("ana", "analyst"), IP["id"] + "0") is None
