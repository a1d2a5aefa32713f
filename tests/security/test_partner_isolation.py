"""Issue 10, items 3 and 6: partners tampering with and reading each other, over real HTTP.

Each test runs the attack as the issue describes it against a live server; on the code before the
fix each one succeeded. Two partner accounts: "partner" (prepare_store, tests/helpers.py) and a rival.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import requests

from cyberlab.auth.keys import hash_key
from indexer.normalize.common import indicator_id, pattern_for
from indexer.sightings import partner_identity
from indexer.store.base import Account
from indexer.timestamps import now_micros
from indexer.tlp import MARKING_FOR_LEVEL
from tests.helpers import TAXII, LiveServer

RIVAL = ("rival-partner", "key-for-rival-partner-0123456789")
SIGHTINGS = "partner-sightings"


@pytest.fixture(scope="module")
def live(server: LiveServer) -> LiveServer:
    """The shared server with a second partner account."""
    store = server.open_store()  # the server's own backend
    if store.get_account(RIVAL[0]) is None:
        store.add_account(Account(RIVAL[0], "partner", hash_key(RIVAL[1]), now_micros()))
    store.close()
    return server


def auth(server: LiveServer, who: str) -> tuple[str, str]:
    return RIVAL if who == "rival" else server.auth(who)


def post(server: LiveServer, alias: str, objects: list[Any], who: str) -> dict[str, Any]:
    response = requests.post(
        server.collection_url(alias) + "objects/",
        data=orjson.dumps({"objects": objects}),
        auth=auth(server, who),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    status: dict[str, Any] = response.json()
    return status


def taxii(server: LiveServer, method: str, path: str, who: str, **params: str) -> requests.Response:
    return requests.request(
        method,
        server.collection_url(SIGHTINGS) + path,
        params=params,
        auth=auth(server, who),
        headers={"Accept": TAXII},
        timeout=30,
    )


def city_indicator(value: str, name: str = "City SOC: brute force source") -> dict[str, Any]:
    pattern = pattern_for("ipv4", value)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(pattern),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": name,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [MARKING_FOR_LEVEL["green"]],
    }


def report(server: LiveServer, value: str, count: int, who: str = "partner") -> dict[str, Any]:
    """A sighting through the sightings API; returns its receipt line."""
    response = requests.post(
        f"{server.url}/api/v1/sightings",
        json={"sightings": [{"value": value, "count": count, "first_seen": "2026-03-01T10:00:00Z"}]},
        auth=auth(server, who),
        timeout=20,
    )
    assert response.status_code == 200, response.text
    (line,) = response.json()["lines"]
    assert line["status"] == "accepted", line
    return dict(line)


def pivot(server: LiveServer, object_id: str, who: str = "analyst") -> dict[str, Any]:
    response = requests.get(f"{server.url}/api/v1/indicators/{object_id}", auth=auth(server, who), timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_partner_cannot_delete_another_partners_sighting(live: LiveServer) -> None:
    live.post_objects("city-indicators", [city_indicator("1.2.10.1")])
    line = report(live, "1.2.10.1", 3)
    deleted = taxii(live, "DELETE", f"objects/{line['sighting_id']}/", "rival")
    # The rival cannot see it, so it is not there for the rival: the same 404 a GET answers
    # (a 403 would confirm that another partner reported this id).
    assert deleted.status_code == 404, deleted.text
    assert taxii(live, "GET", f"objects/{line['sighting_id']}/", "rival").status_code == 404
    assert pivot(live, line["indicator_id"])["sightings"]["count"] == 3
    # Its owner may delete it.
    assert taxii(live, "DELETE", f"objects/{line['sighting_id']}/", "partner").status_code == 200
    assert pivot(live, line["indicator_id"])["sightings"]["count"] == 0


def test_a_partner_cannot_repost_another_partners_sighting_with_a_later_modified(live: LiveServer) -> None:
    live.post_objects("city-indicators", [city_indicator("1.2.10.2")])
    line = report(live, "1.2.10.2", 11)
    stored = taxii(live, "GET", f"objects/{line['sighting_id']}/", "analyst").json()["objects"][0]
    rival_id = partner_identity(RIVAL[0])["id"]
    inflated = {
        **stored,
        "modified": "2026-12-31T00:00:00.000Z",
        "count": 999_999_999,
        "created_by_ref": rival_id,
        "where_sighted_refs": [rival_id],
    }
    status = post(live, SIGHTINGS, [inflated], "rival")
    assert status["success_count"] == 0, status
    assert "another account" in status["failures"][0]["message"]
    assert pivot(live, line["indicator_id"], "subscriber")["sightings"]["count"] == 11


def test_a_partner_cannot_rename_another_partner_through_an_identity(live: LiveServer) -> None:
    live.post_objects("city-indicators", [city_indicator("1.2.10.3")])
    line = report(live, "1.2.10.3", 2)
    victim = partner_identity("partner")
    renamed = {**victim, "modified": "2026-12-31T00:00:00.000Z", "name": "Hacked by the rival"}
    for alias in (SIGHTINGS, "inbox"):  # names are looked up wherever identities are stored
        status = post(live, alias, [renamed], "rival")
        assert status["success_count"] == 0, status
        assert "identit" in status["failures"][0]["message"]
    names = [o["organization"] for o in pivot(live, line["indicator_id"])["sightings"]["by_organization"]]
    assert names == ["partner"]


def test_a_partners_newer_version_of_a_city_indicator_is_not_the_indicator(live: LiveServer) -> None:
    city = city_indicator("1.2.10.4")
    live.post_objects("city-indicators", [city])
    own = partner_identity("partner")["id"]
    forged = {
        **city,
        "modified": "2026-06-01T00:00:00.000Z",
        "name": "Harmless, remove from your blocklists",
        "revoked": True,
        "created_by_ref": own,
    }
    post(live, SIGHTINGS, [forged], "partner")  # the partner's own copy in its own collection
    for who in ("analyst", "subscriber", "rival"):
        detail = pivot(live, city["id"], who)
        assert detail["object"] == city, who
        assert detail["versions"] == [city], who
        assert detail["summary"]["name"] == city["name"] and detail["summary"]["revoked"] is False
        assert detail["summary"]["collection"] == "city-indicators"


def test_a_partner_cannot_redefine_tlp_amber(live: LiveServer) -> None:
    fake = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": MARKING_FOR_LEVEL["amber"],
        "created": "2026-01-01T00:00:00.000Z",
        "name": "TLP:CLEAR",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "clear",
            }
        },
    }
    for alias in (SIGHTINGS, "inbox"):
        status = post(live, alias, [fake], "partner")
        assert status["success_count"] == 0, status
        assert "marking" in status["failures"][0]["message"]
    assert taxii(live, "GET", f"objects/{fake['id']}/", "analyst").status_code == 404


def test_what_the_status_lists_as_stored_reads_back_as_posted(live: LiveServer) -> None:
    """STIX 2.1 3.5/3.6: a stored object is the posted one, never a rewritten copy under its id."""
    city = city_indicator("1.2.10.5")
    live.post_objects("city-indicators", [city])
    own = partner_identity("partner")["id"]
    someone = "identity--7d1f1e4c-1111-4c3b-9a77-0000000000aa"

    def sighting(n: int, by: str) -> dict[str, Any]:
        return {
            "type": "sighting",
            "spec_version": "2.1",
            "id": f"sighting--5a5a5a5a-0000-4000-8000-{n:012d}",
            "created": "2026-03-05T00:00:00.000Z",
            "modified": "2026-03-05T00:00:00.000Z",
            "sighting_of_ref": city["id"],
            "created_by_ref": by,
            "where_sighted_refs": [by],
            "count": n,
        }

    posted = [sighting(1, own), sighting(2, someone), {**sighting(3, own), "created_by_ref": someone}]
    status = post(live, SIGHTINGS, posted, "partner")
    assert status["success_count"] == 1 and status["failure_count"] == 2, status
    assert all(own in f["message"] for f in status["failures"])
    by_id = {o["id"]: o for o in posted}
    for success in status["successes"]:
        got = taxii(
            live, "GET", f"objects/{success['id']}/", "partner", **{"match[version]": success["version"]}
        )
        (stored,) = got.json()["objects"]
        assert stored == by_id[success["id"]]
        assert orjson.dumps(stored, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            by_id[success["id"]], option=orjson.OPT_SORT_KEYS
        )
    for failure in status["failures"]:
        assert taxii(live, "GET", f"objects/{failure['id']}/", "analyst").status_code == 404


def test_partners_read_only_their_own_objects_in_partner_sightings(live: LiveServer) -> None:
    live.post_objects("city-indicators", [city_indicator("1.2.10.6")])
    mine = report(live, "1.2.10.6", 4, who="partner")
    theirs = report(live, "1.2.10.6", 5, who="rival")
    listing = taxii(live, "GET", "objects/", "rival", **{"match[type]": "identity,sighting", "limit": "500"})
    assert listing.status_code == 200, listing.text
    seen = listing.json().get("objects", [])
    assert theirs["sighting_id"] in {o["id"] for o in seen}
    assert mine["sighting_id"] not in {o["id"] for o in seen}
    assert all(o.get("name") != "partner" for o in seen), "another partner's name leaked"
    assert all(
        o.get("created_by_ref") == partner_identity(RIVAL[0])["id"] for o in seen if o["type"] == "sighting"
    )
    assert taxii(live, "GET", f"objects/{mine['sighting_id']}/", "rival").status_code == 404
    manifest = taxii(live, "GET", "manifest/", "rival", limit="500").json().get("objects", [])
    assert mine["sighting_id"] not in {o["id"] for o in manifest}
    # Analysts see everyone; the anonymized counts stay for everyone.
    everyone = taxii(
        live, "GET", "objects/", "analyst", **{"match[id]": f"{mine['sighting_id']},{theirs['sighting_id']}"}
    )
    assert len(everyone.json()["objects"]) == 2
    counts = pivot(live, mine["indicator_id"], "rival")["sightings"]
    assert (counts["organizations"], counts["count"]) == (2, 9)
    assert "by_organization" not in counts


def test_partners_do_not_read_each_other_in_a_collection_they_both_write(live: LiveServer) -> None:
    """Beyond the sightings collection: wherever partners may post (the test config's inbox), each
    reads only its own posts; a GET, a manifest, the versions and a DELETE of the other's id are all
    the same 404 / absence, so none tells that the id exists. Subscribers (readers) see both."""
    mine = {
        **city_indicator("1.2.10.20", "Partner's own report"),
        "id": "indicator--0b0b0b0b-0000-4000-8000-000000000020",
    }
    theirs = {
        **city_indicator("1.2.10.21", "Rival's report"),
        "id": "indicator--0b0b0b0b-0000-4000-8000-000000000021",
    }
    assert post(live, "inbox", [mine], "partner")["success_count"] == 1
    assert post(live, "inbox", [theirs], "rival")["success_count"] == 1

    def get(path: str, who: str) -> requests.Response:
        return requests.get(
            live.collection_url("inbox") + path, auth=auth(live, who), headers={"Accept": TAXII}, timeout=30
        )

    def ids(path: str, who: str) -> set[str]:
        response = get(path, who)
        assert response.status_code == 200, response.text
        return {o["id"] for o in response.json().get("objects", [])}

    for who, own, other in (("partner", mine, theirs), ("rival", theirs, mine)):
        assert own["id"] in ids("objects/?limit=500", who)
        assert other["id"] not in ids("objects/?limit=500", who)
        assert other["id"] not in ids("manifest/?limit=500", who)
        for path in (f"objects/{other['id']}/", f"objects/{other['id']}/versions/"):
            assert get(path, who).status_code == 404, (who, path)
        delete = requests.delete(
            live.collection_url("inbox") + f"objects/{other['id']}/",
            auth=auth(live, who),
            headers={"Accept": TAXII},
            timeout=30,
        )
        assert delete.status_code == 404, delete.text
    assert {mine["id"], theirs["id"]} <= ids("objects/?limit=500", "subscriber")
