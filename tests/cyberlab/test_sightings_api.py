"""Partner sightings over real HTTP: receipts per line, dedupe, attribution, anonymized counts."""

from __future__ import annotations

from typing import Any

import orjson
import requests

from indexer.normalize.common import indicator_id, pattern_for
from indexer.sightings import partner_identity
from tests.data import CITY_INDICATOR, CITY_IP
from tests.helpers import LiveServer


def upload(
    server: LiveServer, body: Any, role: str | None = "partner", csv: bool = False, media_type: str = ""
) -> requests.Response:
    """POST to the sightings API: JSON by default, `body` as CSV text, or raw text of `media_type`."""
    raw = csv or media_type
    return requests.post(
        f"{server.url}/api/v1/sightings",
        data=body if raw else None,
        json=None if raw else body,
        headers={"Content-Type": media_type or "text/csv"} if raw else {},
        auth=server.auth(role) if role else None,
        timeout=20,
    )


def test_a_sighting_lands_on_the_citys_indicator_and_counts_anonymously(server: LiveServer) -> None:
    server.post_objects("city-indicators", [CITY_INDICATOR])
    receipt = upload(
        server, {"sightings": [{"value": CITY_IP, "count": 4, "first_seen": "2026-03-01T10:00:00Z"}]}
    )
    assert receipt.status_code == 200, receipt.text
    (line,) = receipt.json()["lines"]
    assert line["status"] == "accepted" and line["indicator_id"] == CITY_INDICATOR["id"]
    assert "new_indicator" not in line
    detail = requests.get(
        f"{server.url}/api/v1/indicators/{CITY_INDICATOR['id']}", auth=server.auth("subscriber"), timeout=10
    ).json()
    assert detail["sightings"]["organizations"] == 1 and detail["sightings"]["count"] == 4
    assert "by_organization" not in detail["sightings"]
    analyst = requests.get(
        f"{server.url}/api/v1/indicators/{CITY_INDICATOR['id']}", auth=server.auth("analyst"), timeout=10
    ).json()
    assert analyst["sightings"]["by_organization"][0]["organization"] == "partner"
    # The same report again: a duplicate, not a second sighting.
    again = upload(
        server, {"sightings": [{"value": CITY_IP, "count": 4, "first_seen": "2026-03-01T10:00:00Z"}]}
    )
    assert again.json()["lines"][0]["status"] == "duplicate"
    assert again.json()["duplicate"] == 1
    detail = requests.get(
        f"{server.url}/api/v1/indicators/{CITY_INDICATOR['id']}", auth=server.auth("analyst"), timeout=10
    ).json()
    assert detail["sightings"]["count"] == 4


CSV = """value,type,count,first_seen,last_seen
5.6.7.201
evil-sightings.example.net,domain,2
http://evil-sightings.example.net/login.php,url,1,2026-03-01T00:00:00Z,2026-03-02T00:00:00Z
not a value at all
10.1.2.3
5.6.7.202,md5
5.6.7.203,,many
5.6.7.204,,1,yesterday
5.6.7.205,,1,2026-03-02T00:00:00Z,2026-03-01T00:00:00Z
5.6.7.201
,ip
5.6.7.206,fqdn
"""


def test_csv_upload_gets_a_receipt_line_for_every_line(server: LiveServer) -> None:
    response = upload(server, CSV, csv=True)
    assert response.status_code == 200, response.text
    body = response.json()
    by_line = {line["line"]: line for line in body["lines"]}
    assert [by_line[n]["status"] for n in (2, 3, 4)] == ["accepted"] * 3
    assert all(by_line[n].get("new_indicator") for n in (2, 3, 4))
    expected = {
        5: "not an IP address, domain, URL",
        6: "not shared",
        7: "is not a valid md5",
        8: "count must be between",
        9: "not an RFC 3339 timestamp",
        10: "last_seen is before first_seen",
        11: "the same sighting as an earlier line",
        12: "the value is empty",
        13: "unknown indicator type 'fqdn'",
    }
    for n, reason in expected.items():
        assert by_line[n]["status"] == "rejected", by_line[n]
        assert reason in by_line[n]["reason"], (n, by_line[n])
    assert (body["accepted"], body["rejected"]) == (3, 9)


def test_hostile_values_are_rejected_or_stored_as_text(server: LiveServer) -> None:
    body = upload(
        server, {"sightings": [{"value": "<script>alert(1)</script>"}, {"value": "x" * 3000}, "nope"]}
    ).json()
    assert [line["status"] for line in body["lines"]] == ["rejected"] * 3


def test_who_may_upload_and_what_is_a_bad_request(server: LiveServer) -> None:
    assert upload(server, {"sightings": [{"value": "5.6.7.9"}]}, role=None).status_code == 401
    assert upload(server, {"sightings": [{"value": "5.6.7.9"}]}, role="subscriber").status_code == 403
    for body, says in (({"values": []}, '"sightings" list'), ({"sightings": []}, "no sightings")):
        response = upload(server, body)
        assert response.status_code == 400 and says in response.json()["description"]
    broken = upload(server, "{not json", media_type="application/json")
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["description"]
    assert upload(server, "<x/>", media_type="application/xml").status_code == 400
    huge = upload(server, "203.0.113.9\n" * 300_000, csv=True)
    assert huge.status_code == 413


def test_csv_with_odd_line_endings_and_control_characters_gets_a_receipt(server: LiveServer) -> None:
    """Found by the schemathesis run: a lone carriage return made Python's csv module raise (500)."""
    response = upload(server, '9.9.8.20\r\x00bad\x7f\r\n"unclosed,ipv4\n9.9.8.21,ipv4,2', csv=True)
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert [line["line"] for line in receipt["lines"]] == [1, 2, 3, 4]
    assert receipt["lines"][0]["status"] == receipt["lines"][3]["status"] == "accepted"
    assert {line["status"] for line in receipt["lines"][1:3]} == {"rejected"}


def test_a_year_before_1000_and_non_string_references_get_a_receipt(server: LiveServer) -> None:
    """Found by the schemathesis run (once in a while: it had to draw a valid value and such a
    date, or a list where an id goes): glibc's %Y writes year 1 as "1", which the sighting's
    own timestamp check then refused with a 500; a list as id or sighting_of_ref went into a set."""
    early = [
        {"value": "9.9.8.40", "first_seen": "0001-01-01T00:00:00Z"},
        {"value": "9.9.8.41", "first_seen": "0999-12-31T23:59:59Z", "last_seen": "1000-01-01T00:00:00Z"},
    ]
    response = upload(server, {"sightings": early})
    assert response.status_code == 200, response.text
    lines = response.json()["lines"]
    assert [line["status"] for line in lines] == ["accepted", "accepted"], lines
    detail = requests.get(
        f"{server.url}/api/v1/indicators/{lines[0]['indicator_id']}", auth=server.auth("analyst"), timeout=10
    )
    assert detail.status_code == 200, detail.text
    assert detail.json()["sightings"]["first_seen"].startswith("0001-01-01T00:00:00")
    bundle = {"type": "bundle", "objects": [{"type": "sighting", "sighting_of_ref": []}, {"id": {"a": 1}}]}
    stix = upload(server, orjson.dumps(bundle), media_type="application/stix+json;version=2.1")
    assert stix.status_code == 200, stix.text
    assert [line["status"] for line in stix.json()["lines"]] == ["rejected", "rejected"]


def test_taxii_posted_sightings_count_as_the_partners_own_and_no_one_elses(server: LiveServer) -> None:
    """A partner's STIX Sighting POSTed with taxii2-client: one claiming another identity is refused
    (saying which identity to use), one in the partner's own name is stored as posted and counts."""
    from taxii2client.v21 import Collection

    city_ip = "1.2.3.88"
    indicator = {**CITY_INDICATOR, "id": indicator_id(pattern_for("ipv4", city_ip))}
    indicator["pattern"] = pattern_for("ipv4", city_ip)
    server.post_objects("city-indicators", [indicator])
    claimed = "identity--7d1f1e4c-1111-4c3b-9a77-000000000001"  # someone else's identity
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--3e3c2a0e-8f0e-4f0e-9d7a-4a1b2c3d4e5f",
        "created": "2026-03-05T00:00:00.000Z",
        "modified": "2026-03-05T00:00:00.000Z",
        "sighting_of_ref": indicator["id"],
        "where_sighted_refs": [claimed],
        "created_by_ref": claimed,
        "count": 7,
    }
    user, key = "partner", server.keys["partner"]
    collection = Collection(server.collection_url("partner-sightings"), user=user, password=key)
    status = collection.add_objects({"objects": [sighting]})
    assert (status.status, status.success_count, status.total_count) == ("complete", 0, 1)
    (failure,) = status.failures
    own = partner_identity("partner")["id"]
    assert "created_by_ref" in failure["message"] and own in failure["message"]
    mine = {**sighting, "created_by_ref": own, "where_sighted_refs": [own]}
    assert collection.add_objects({"objects": [mine]}).success_count == 1
    again = collection.add_objects({"objects": [mine]})  # the same report again counts once
    assert again.success_count == 1
    stored = collection.get_object(sighting["id"])["objects"]
    assert stored == [mine]
    detail = requests.get(
        f"{server.url}/api/v1/indicators/{indicator['id']}", auth=server.auth("analyst"), timeout=10
    ).json()
    assert detail["sightings"]["count"] == 7
    assert [o["organization"] for o in detail["sightings"]["by_organization"]] == ["partner"]


def test_a_stix_bundle_upload_reports_sightings_indicators_and_observables(server: LiveServer) -> None:
    seen = indicator_id(pattern_for("ipv4", "9.9.8.30"))
    bundle = {
        "type": "bundle",
        "id": "bundle--6f0c0a3e-0000-4000-8000-000000000001",
        "objects": [
            {"type": "identity", "id": "identity--6f0c0a3e-0000-4000-8000-000000000002", "name": "Us"},
            {"type": "indicator", "id": seen, "pattern": pattern_for("ipv4", "9.9.8.30")},
            {
                "type": "sighting",
                "id": "sighting--6f0c0a3e-0000-4000-8000-000000000003",
                "sighting_of_ref": seen,
                "count": 5,
                "first_seen": "2026-03-01T00:00:00Z",
                "last_seen": "2026-03-02T00:00:00Z",
            },
            {
                "type": "domain-name",
                "id": "domain-name--6f0c0a3e-0000-4000-8000-000000000004",
                "value": "bad-bundle.example.org",
            },
            {
                "type": "sighting",
                "id": "sighting--6f0c0a3e-0000-4000-8000-000000000005",
                "sighting_of_ref": "indicator--nope",
            },
            {"type": "malware", "id": "malware--6f0c0a3e-0000-4000-8000-000000000006", "name": "x"},
            "not an object",
        ],
    }
    response = upload(server, orjson.dumps(bundle), media_type="application/stix+json;version=2.1")
    assert response.status_code == 200, response.text
    lines = {line["line"]: line for line in response.json()["lines"]}
    assert lines[3]["status"] == "accepted" and lines[3]["indicator_id"] == seen
    assert lines[4]["status"] == "accepted" and lines[4]["value"] == "bad-bundle.example.org"
    assert lines[5]["status"] == "rejected" and "sighting_of_ref" in lines[5]["reason"]
    assert lines[6]["status"] == lines[7]["status"] == "rejected"
    assert set(lines) == {3, 4, 5, 6, 7}  # the identity and the sighted indicator are context
    detail = requests.get(f"{server.url}/api/v1/indicators/{seen}", auth=server.auth("analyst"), timeout=10)
    assert detail.json()["sightings"]["count"] == 5
