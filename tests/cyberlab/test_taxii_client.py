"""Happy paths with the real taxii2-client against a real gunicorn server on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from indexer.synthetic import demo_bundle
from tests.helpers import LiveServer

DEMO = demo_bundle(400)
LATEST: dict[str, dict[str, Any]] = {}
for _obj in DEMO:
    if _obj["id"] not in LATEST or _obj["modified"] > LATEST[_obj["id"]]["modified"]:
        LATEST[_obj["id"]] = _obj


@pytest.fixture(scope="module")
def loaded(server: LiveServer) -> LiveServer:
    """The demo feed posted to the `paging` collection by the admin, through taxii2-client."""
    collection = Collection(server.collection_url("paging"), **server.client_auth("admin"))
    for start in range(0, len(DEMO), 200):
        status = collection.add_objects({"objects": DEMO[start : start + 200]})
        assert status.status == "complete"
        assert status.failure_count == 0, status.failures
    return server


def test_discovery_and_api_root(server: LiveServer) -> None:
    taxii = Server(f"{server.url}/taxii2/", **server.client_auth("subscriber"))
    assert taxii.title == "CyberLab TAXII 2.1"
    assert taxii.default.url == server.root
    assert [root.url for root in taxii.api_roots] == [server.root]
    root = taxii.default
    assert root.versions == ["application/taxii+json;version=2.1"]
    assert root.max_content_length == 2_000_000


def test_collections_report_access_per_caller(server: LiveServer) -> None:
    def access(role: str | None) -> dict[str, tuple[bool, bool]]:
        root = ApiRoot(server.root, **server.client_auth(role))
        return {c.alias: (c.can_read, c.can_write) for c in root.collections}  # type: ignore[attr-defined]

    subscriber = access("subscriber")
    assert subscriber["city-indicators"] == (True, False)
    assert subscriber["public-blocklist"] == (True, False)
    assert "partner-sightings" not in subscriber
    assert access("partner")["inbox"] == (True, True)
    assert access("analyst")["inbox"] == (False, True)
    assert all(rw == (True, True) for rw in access("admin").values())
    assert set(access(None)) == {"public-blocklist"}


def test_add_objects_returns_a_status_that_can_be_fetched_again(server: LiveServer) -> None:
    collection = Collection(server.collection_url("inbox"), **server.client_auth("partner"))
    status = collection.add_objects({"objects": DEMO[1:6]})  # DEMO[0], an identity, is the server's
    assert (status.total_count, status.success_count, status.failure_count, status.pending_count) == (
        5,
        5,
        0,
        0,
    )
    assert {s["id"] for s in status.successes} == {o["id"] for o in DEMO[1:6]}
    again = ApiRoot(server.root, **server.client_auth("partner")).get_status(status.id)
    assert again.id == status.id and again.success_count == 5


def test_as_pages_visits_every_latest_object_once(loaded: LiveServer) -> None:
    collection = Collection(loaded.collection_url("paging"), **loaded.client_auth("subscriber"))
    seen: list[dict[str, Any]] = []
    pages = 0
    for envelope in as_pages(collection.get_objects, per_request=37):
        seen.extend(envelope.get("objects", []))
        pages += 1
    assert pages == -(-len(LATEST) // 37)
    assert [o["id"] for o in seen].count(seen[0]["id"]) == 1
    assert {o["id"]: o["modified"] for o in seen} == {i: o["modified"] for i, o in LATEST.items()}


def test_manifest_pages_match_objects(loaded: LiveServer) -> None:
    collection = Collection(loaded.collection_url("paging"), **loaded.client_auth("subscriber"))
    records = [
        r for env in as_pages(collection.get_manifest, per_request=100) for r in env.get("objects", [])
    ]
    assert len(records) == len(LATEST)
    assert all(r["media_type"] == "application/stix+json;version=2.1" for r in records)
    assert {r["id"]: r["version"] for r in records} == {i: o["modified"] for i, o in LATEST.items()}
    added = [r["date_added"] for r in records]
    assert added == sorted(added)


def test_get_object_and_its_versions(loaded: LiveServer) -> None:
    collection = Collection(loaded.collection_url("paging"), **loaded.client_auth("subscriber"))
    revised = DEMO[1]  # the first indicator; demo_bundle revises the first tenth of them
    versions = collection.object_versions(revised["id"])["versions"]
    assert sorted(versions) == sorted({o["modified"] for o in DEMO if o["id"] == revised["id"]})
    assert len(versions) == 2
    latest = collection.get_object(revised["id"])["objects"]
    assert [o["modified"] for o in latest] == [max(versions)]
    first = collection.get_object(revised["id"], version="first")["objects"]
    assert first[0]["modified"] == min(versions)
    every = collection.get_object(revised["id"], version="all")["objects"]
    assert len(every) == 2


def test_filters_through_the_client(loaded: LiveServer) -> None:
    collection = Collection(loaded.collection_url("paging"), **loaded.client_auth("subscriber"))
    sightings = collection.get_objects(type="sighting", limit=500)["objects"]
    assert {o["type"] for o in sightings} == {"sighting"}
    assert len(sightings) == sum(1 for o in LATEST.values() if o["type"] == "sighting")
    two = [DEMO[5]["id"], DEMO[6]["id"]]
    assert {o["id"] for o in collection.get_objects(id=two)["objects"]} == set(two)


def test_delete_object_through_the_client(server: LiveServer) -> None:
    admin = Collection(server.collection_url("inbox"), **server.client_auth("partner"))
    target = DEMO[10]
    admin.add_objects({"objects": [target]})
    admin.delete_object(target["id"])
    assert admin.get_manifest(id=target["id"]).get("objects") is None
