"""indexer.ingest reports each object's outcome as a value (ObjectResult.outcome); the message
beside it is for people and may be reworded without any caller noticing."""

from __future__ import annotations

from typing import Any

from config import Settings
from indexer.ingest import ingest_objects
from indexer.sanitize import Sanitizer
from indexer.store.base import Store


def indicator(n: int, value: str, modified: str = "2026-01-01T00:00:00.000Z") -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--0c000000-0000-4000-8000-{n:012d}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": modified,
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
    }


def outcomes(report: Any) -> dict[str, str]:
    return {r.id: r.outcome for r in (*report.successes, *report.failures)}


def test_each_object_says_what_became_of_it(settings: Settings, store: Store) -> None:
    collection = settings.collection("security")
    assert collection is not None
    first, second = indicator(1, "198.51.100.7"), indicator(2, "198.51.100.8")
    assert outcomes(ingest_objects(store, collection, [first, second], sanitizer=None)) == {
        first["id"]: "added",
        second["id"]: "added",
    }
    changed = {**second, "pattern": "[ipv4-addr:value = '198.51.100.9']"}  # same version, new body
    newer = indicator(1, "198.51.100.7", modified="2026-02-01T00:00:00.000Z")
    broken = {**indicator(3, "198.51.100.10"), "pattern_type": 7}
    report = ingest_objects(store, collection, [first, changed, newer, broken], sanitizer=None)
    assert [(r.id, r.outcome) for r in report.successes] == [
        (first["id"], "unchanged"),
        (first["id"], "added"),
    ]
    assert {r.id: r.outcome for r in report.failures} == {second["id"]: "conflict", broken["id"]: "invalid"}
    # Another account may not add versions of an id the platform stored first.
    later = indicator(1, "198.51.100.7", "2026-03-01T00:00:00.000Z")
    theirs = ingest_objects(store, collection, [later], owner="mallory", sanitizer=None)
    assert [r.outcome for r in theirs.failures] == ["not_owner"]


def test_what_the_sanitizer_keeps_out_is_not_shared(settings: Settings, store: Store) -> None:
    collection = settings.collection("security")
    assert collection is not None
    private = indicator(4, "10.1.2.3")  # RFC 1918: never shared
    report = ingest_objects(store, collection, [private], sanitizer=Sanitizer(settings.sanitize))
    assert [(r.id, r.outcome) for r in report.failures] == [(private["id"], "not_shared")]
    assert report.failures[0].message.startswith("not shared: ")
