"""Round trips through real client libraries: what a client fetched and posts back is not a change.

stix2 re-serializes what it parses: `.120000Z` becomes `.120Z` and `pattern_version: "2.1"` (the
default) is added. TAXII 2.1 section 5.5: re-posting an object already present is no error; STIX
2.1 section 3.6: a default-valued property may be omitted. Both are answered "already present",
and what the server serves stays exactly what was first stored.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import requests
import stix2
from stix2 import TAXIICollectionSink, TAXIICollectionSource
from taxii2client.v21 import Collection

from tests.helpers import TAXII, LiveServer


def indicator(ip: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.120000Z",
        "modified": "2026-01-01T00:00:00.120000Z",
        "pattern": f"[ipv4-addr:value = '{ip}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        **extra,
    }


def collection(server: LiveServer, alias: str, role: str) -> Collection:
    return Collection(server.collection_url(alias), **server.client_auth(role))


def taxii_get(server: LiveServer, url: str, **params: str) -> requests.Response:
    """A TAXII GET as the subscriber, whatever it answers."""
    return requests.get(
        url, params=params, auth=server.auth("subscriber"), headers={"Accept": TAXII}, timeout=10
    )


def fetched(server: LiveServer, obj_id: str) -> dict[str, Any]:
    response = taxii_get(server, server.collection_url("roundtrip") + f"objects/{obj_id}/")
    assert response.status_code == 200, response.text
    (obj,) = response.json()["objects"]
    return obj  # type: ignore[no-any-return]


def test_a_stix2_reserialized_object_is_already_present(server: LiveServer) -> None:
    original = indicator("198.51.100.71")
    writer = collection(server, "roundtrip", "partner")
    assert writer.add_objects({"objects": [original]}).success_count == 1
    again = stix2.parse(original, allow_custom=True)
    text = again.serialize()
    assert ".120Z" in text and '"pattern_version": "2.1"' in text  # what the round trip does
    status = writer.add_objects({"objects": [_as_dict(text)]})
    assert (status.success_count, status.failure_count) == (1, 0), status.failures
    assert "already present" in status.successes[0]["message"]
    assert fetched(server, original["id"]) == original  # served as first stored, .120000Z


def _as_dict(text: str) -> dict[str, Any]:
    return json.loads(text)  # type: ignore[no-any-return]


def test_stix2_taxii_source_and_sink_round_trip(server: LiveServer) -> None:
    original = indicator("198.51.100.72", revoked=False)
    writer = collection(server, "roundtrip", "partner")
    assert writer.add_objects({"objects": [original]}).success_count == 1
    source = TAXIICollectionSource(collection(server, "roundtrip", "partner"))
    got = source.get(original["id"])
    assert got is not None and got.id == original["id"]
    # The sink posts what the source parsed (re-serialized by stix2); the server must not call it
    # a conflict. The sink raises on a failed status, so reaching the next line is the check.
    TAXIICollectionSink(collection(server, "roundtrip", "partner")).add(got)
    status = writer.add_objects({"objects": [_as_dict(got.serialize())]})
    assert status.failure_count == 0, status.failures
    assert fetched(server, original["id"]) == original


def test_a_real_change_under_the_same_version_is_still_a_conflict(server: LiveServer) -> None:
    original = indicator("198.51.100.73")
    writer = collection(server, "roundtrip", "partner")
    assert writer.add_objects({"objects": [original]}).success_count == 1
    changed = copy.deepcopy(original)
    changed["valid_from"] = "2026-01-01T00:00:00.000Z"  # the same instant, written longer
    changed["pattern_version"] = "2.0"  # not the default: a change
    status = writer.add_objects({"objects": [changed]})
    assert status.failure_count == 1
    assert "different object" in status.failures[0]["message"]
    revoked = copy.deepcopy(original) | {"revoked": True}
    assert writer.add_objects({"objects": [revoked]}).failure_count == 1


def test_retry_after_only_on_429_and_503(server: LiveServer) -> None:
    for path in ("/taxii2/", server.collection_url("roundtrip") + "objects/"):
        response = taxii_get(server, path if path.startswith("http") else server.url + path)
        assert response.status_code == 200
        assert "Retry-After" not in response.headers
    missing = taxii_get(
        server,
        server.collection_url("roundtrip") + "objects/indicator--00000000-0000-4000-8000-000000000000/",
    )
    assert missing.status_code == 404 and "Retry-After" not in missing.headers


def test_an_empty_page_reports_no_dates_unless_asked_from_somewhere(server: LiveServer) -> None:
    url = server.collection_url("empty") + "objects/"
    plain = taxii_get(server, url)
    assert plain.status_code == 200 and plain.json().get("objects", []) == []
    assert "X-TAXII-Date-Added-First" not in plain.headers
    assert "X-TAXII-Date-Added-Last" not in plain.headers
    manifest = taxii_get(server, server.collection_url("empty") + "manifest/")
    assert manifest.status_code == 200 and "X-TAXII-Date-Added-Last" not in manifest.headers
    since = taxii_get(server, url, added_after="2026-01-01T00:00:00.000000Z")
    # A poller resuming from a position keeps it: the empty page echoes it.
    assert since.headers["X-TAXII-Date-Added-Last"] == "2026-01-01T00:00:00.000000Z"
