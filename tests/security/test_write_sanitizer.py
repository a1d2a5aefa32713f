"""Issue #10 item 7: every write path runs the sanitizer, TAXII POSTs included, with a reason."""

from __future__ import annotations

import uuid

import requests

from tests.data import indicator
from tests.helpers import LiveServer, all_exports, failures, post

NOT_SHARED = {
    "8.8.8.8": "[ipv4-addr:value = '8.8.8.8']",  # a public resolver: warninglist
    "10.0.0.1": "[ipv4-addr:value = '10.0.0.1']",  # private
    "127.0.0.1": "[ipv4-addr:value = '127.0.0.1']",  # loopback
    "google.com": "[domain-name:value = 'google.com']",  # a top site: warninglist
}


def test_a_partner_taxii_post_of_benign_values_is_refused_with_reasons(server: LiveServer) -> None:
    objects = [indicator(pattern) for pattern in NOT_SHARED.values()]
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.uuid4()}",
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-01T00:00:00.000Z",
        "sighting_of_ref": objects[1]["id"],
    }
    scos = [
        {
            "type": "ipv4-addr",
            "spec_version": "2.1",
            "id": f"ipv4-addr--{uuid.uuid4()}",
            "value": "127.0.0.1",
        },
        {
            "type": "domain-name",
            "spec_version": "2.1",
            "id": f"domain-name--{uuid.uuid4()}",
            "value": "google.com",
        },
    ]
    for alias, role in (("security", "partner"), ("inbox", "partner"), ("security", "admin")):
        failed = failures(post(server, alias, [*objects, sighting, *scos], role=role))
        for obj in [*objects, *scos]:
            assert failed.get(obj["id"], "").startswith("not shared: "), (alias, role, obj, failed)
        # A partner's sighting must also name the partner's identity (refused for that first);
        # the admin's is refused only because what it sights is not shared.
        assert sighting["id"] in failed
        if role == "admin":
            assert "depends on" in failed[sighting["id"]]
    for alias in ("security", "inbox"):
        texts = all_exports(server, alias)
        for value in NOT_SHARED:
            assert all(value not in line for text in texts.values() for line in text.splitlines())
    listed = requests.get(
        server.collection_url("inbox") + "objects/",
        auth=server.auth("subscriber"),
        headers={"Accept": "application/taxii+json;version=2.1"},
        timeout=10,
    ).json()
    assert not {o["id"] for o in listed.get("objects", [])} & {o["id"] for o in objects}
