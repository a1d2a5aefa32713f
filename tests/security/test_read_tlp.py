"""Issue 10, item 5: read-level TLP over real HTTP, in a collection above some readers' clearance.

"community" (tests/fixtures/test-config.toml) holds up to TLP:AMBER+STRICT and subscribers may
read it: they must get only what TLP:GREEN covers there, through every path. Before the fix
TAXII, the exports, the pivot and the sighting receipts each handed out more than search did.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import requests

from indexer.normalize.common import indicator_id, pattern_for
from indexer.tlp import MARKING_FOR_LEVEL
from tests.helpers import TAXII, LiveServer

COMMUNITY = "community"


def indicator(
    value: str, tlp: str, modified: str = "2026-01-01T00:00:00.000Z", **extra: Any
) -> dict[str, Any]:
    pattern = pattern_for("ipv4", value)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(pattern),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": modified,
        "name": f"{tlp} indicator {value}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [MARKING_FOR_LEVEL[tlp]],
        **extra,
    }


AMBER = indicator("45.155.205.1", "amber")
OLD_AMBER = indicator("45.155.205.2", "amber", "2026-01-01T00:00:00.000Z")
NOW_GREEN = indicator("45.155.205.2", "green", "2026-02-01T00:00:00.000Z")
STRICT = indicator("45.155.205.3", "amber+strict")
GRANULAR = indicator(
    "45.155.205.4",
    "green",
    granular_markings=[
        {
            "marking_ref": MARKING_FOR_LEVEL["red"]
            .upper()
            .replace("MARKING-DEFINITION", "marking-definition"),
            "selectors": ["name"],
        }
    ],
)
MALWARE = {
    "type": "malware",
    "spec_version": "2.1",
    "id": "malware--0b0b0b0b-0000-4000-8000-000000000001",
    "created": "2026-01-01T00:00:00.000Z",
    "modified": "2026-01-01T00:00:00.000Z",
    "name": "Operation Quiet Harbour",
    "is_family": False,
    "object_marking_refs": [MARKING_FOR_LEVEL["amber"]],
}
LINK = {
    "type": "relationship",
    "spec_version": "2.1",
    "id": "relationship--0b0b0b0b-0000-4000-8000-000000000002",
    "created": "2026-01-01T00:00:00.000Z",
    "modified": "2026-01-01T00:00:00.000Z",
    "relationship_type": "indicates",
    "source_ref": NOW_GREEN["id"],
    "target_ref": MALWARE["id"],
    "object_marking_refs": [MARKING_FOR_LEVEL["amber"]],
}


@pytest.fixture(scope="module")
def live(server: LiveServer) -> LiveServer:
    server.post_objects(COMMUNITY, [AMBER, OLD_AMBER, NOW_GREEN, STRICT, MALWARE, LINK])
    status = requests.post(  # the ceiling check is sec-ingest's; this may be refused or stored
        server.collection_url(COMMUNITY) + "objects/",
        json={"objects": [GRANULAR]},
        auth=server.auth("admin"),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=30,
    )
    assert status.status_code == 202
    return server


def taxii(server: LiveServer, path: str, who: str, **params: str) -> requests.Response:
    return requests.get(
        server.collection_url(COMMUNITY) + path,
        params=params,
        auth=server.auth(who),
        headers={"Accept": TAXII},
        timeout=30,
    )


def test_taxii_serves_a_subscriber_only_what_its_clearance_covers(live: LiveServer) -> None:
    listing = taxii(live, "objects/", "subscriber", limit="500").json().get("objects", [])
    got = {(o["id"], o["modified"]) for o in listing}
    assert (NOW_GREEN["id"], NOW_GREEN["modified"]) in got
    for hidden in (AMBER, STRICT, MALWARE, LINK, GRANULAR):
        assert hidden["id"] not in {i for i, _ in got}, hidden["name"] if "name" in hidden else hidden["id"]
    everything = taxii(live, "objects/", "subscriber", **{"match[version]": "all", "limit": "500"}).json()
    assert (OLD_AMBER["id"], OLD_AMBER["modified"]) not in {
        (o["id"], o["modified"]) for o in everything["objects"]
    }
    assert taxii(live, f"objects/{AMBER['id']}/", "subscriber").status_code == 404
    assert taxii(live, f"objects/{AMBER['id']}/versions/", "subscriber").status_code == 404
    versions = taxii(live, f"objects/{NOW_GREEN['id']}/versions/", "subscriber").json()["versions"]
    assert versions == [NOW_GREEN["modified"]]
    manifest = taxii(live, "manifest/", "subscriber", limit="500").json().get("objects", [])
    assert AMBER["id"] not in {o["id"] for o in manifest}
    # Those cleared for it get it: partners AMBER, analysts AMBER+STRICT.
    assert taxii(live, f"objects/{AMBER['id']}/", "partner").status_code == 200
    assert taxii(live, f"objects/{STRICT['id']}/", "partner").status_code == 404
    assert taxii(live, f"objects/{STRICT['id']}/", "analyst").status_code == 200


@pytest.mark.parametrize("name", ["ip.txt", "all.txt", "all.csv", "all.stix.json"])
def test_exports_give_a_subscriber_only_what_its_clearance_covers(live: LiveServer, name: str) -> None:
    url = f"{live.url}/api/v1/collections/{COMMUNITY}/export/{name}"
    analyst = requests.get(url, auth=live.auth("analyst"), timeout=30)  # fills the cache first
    assert "45.155.205.1" in analyst.text
    response = requests.get(url, auth=live.auth("subscriber"), timeout=30)
    assert response.status_code == 200, response.text
    assert "45.155.205.2" in response.text
    for secret in ("45.155.205.1", "45.155.205.3", "45.155.205.4"):
        assert secret not in response.text, secret


def test_the_pivot_shows_a_subscriber_neither_older_amber_versions_nor_amber_relations(
    live: LiveServer,
) -> None:
    detail = requests.get(
        f"{live.url}/api/v1/indicators/{NOW_GREEN['id']}", auth=live.auth("subscriber"), timeout=10
    )
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["versions"] == [NOW_GREEN]
    assert body["related"] == []
    assert "Quiet Harbour" not in detail.text
    analyst = requests.get(
        f"{live.url}/api/v1/indicators/{NOW_GREEN['id']}", auth=live.auth("analyst"), timeout=10
    ).json()
    assert [v["modified"] for v in analyst["versions"]] == [OLD_AMBER["modified"], NOW_GREEN["modified"]]
    assert [r["name"] for r in analyst["related"]] == [MALWARE["name"]]
    hidden = requests.get(
        f"{live.url}/api/v1/indicators/{AMBER['id']}", auth=live.auth("subscriber"), timeout=10
    )
    assert hidden.status_code == 404


def test_a_sighting_upload_learns_nothing_of_an_indicator_it_may_not_read(live: LiveServer) -> None:
    def upload(body: Any, media_type: str) -> dict[str, Any]:
        response = requests.post(
            f"{live.url}/api/v1/sightings",
            data=orjson.dumps(body),
            headers={"Content-Type": media_type},
            auth=live.auth("partner"),
            timeout=20,
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def bundle(ref: str) -> dict[str, Any]:
        sighting = {
            "type": "sighting",
            "id": "sighting--0c0c0c0c-0000-4000-8000-000000000001",
            "sighting_of_ref": ref,
        }
        return {"type": "bundle", "id": "bundle--0c0c0c0c-0000-4000-8000-000000000002", "objects": [sighting]}

    stix = "application/stix+json;version=2.1"
    secret = upload(bundle(STRICT["id"]), stix)
    unknown = upload(bundle("indicator--0c0c0c0c-0000-4000-8000-0000000000ff"), stix)
    assert "45.155.205.3" not in orjson.dumps(secret).decode()
    assert secret["lines"][0]["status"] == "rejected"
    assert secret["lines"][0]["reason"].replace(STRICT["id"], "X") == unknown["lines"][0]["reason"].replace(
        "indicator--0c0c0c0c-0000-4000-8000-0000000000ff", "X"
    )
    # new_indicator says the same for a value the partner may not see as for one never reported.
    (line,) = upload({"sightings": [{"value": "45.155.205.3"}]}, "application/json")["lines"]
    (fresh,) = upload({"sightings": [{"value": "45.155.205.99"}]}, "application/json")["lines"]
    assert line["status"] == fresh["status"] == "accepted"
    assert line.get("new_indicator") is True and fresh.get("new_indicator") is True
    # The city's AMBER+STRICT indicator is untouched; the sighting counts on it.
    kept = taxii(live, f"objects/{STRICT['id']}/", "analyst").json()["objects"]
    assert kept == [STRICT]
