"""A refusal spreads along references (indexer.dependencies), whatever the order and the batches:
a sighting posted before the private-address indicator it sights is refused with it."""

from __future__ import annotations

from typing import Any

from config import Settings
from indexer.dependencies import DEPENDS, Refusals
from indexer.ingest import ingest_objects
from indexer.sanitize import Sanitizer
from indexer.store.base import ObjectQuery, Store
from tests.indexer.test_ingest_outcomes import indicator, outcomes


def obj(n: int, *refs: str, kind: str = "relationship") -> dict[str, Any]:
    made: dict[str, Any] = {"type": kind, "id": f"{kind}--{n}"}
    if kind == "report":
        made["object_refs"] = list(refs)
    else:
        made.update(zip(("source_ref", "target_ref"), refs, strict=False))
    return made


def sighting(n: int, of: str) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--0d000000-0000-4000-8000-{n:012d}",
        "created": "2026-01-02T00:00:00.000Z",
        "modified": "2026-01-02T00:00:00.000Z",
        "sighting_of_ref": of,
    }


def test_a_long_chain_arriving_in_reverse_is_followed_once_per_reference() -> None:
    chain = [obj(n, f"relationship--{n + 1}") for n in range(20_000)]
    refusals = Refusals()
    for start in range(0, len(chain), 2000):  # what arrives later refuses what came before
        refusals.add([(o["id"], o, None) for o in chain[start : start + 2000]])
    refusals.add([("relationship--20000", obj(20_000), "private-address")])
    assert len(refusals.reasons) == 20_001
    assert refusals.reasons["relationship--0"] == DEPENDS


def test_an_objects_own_reason_wins_over_depending_on_another() -> None:
    refusals = Refusals()
    refusals.add(
        [("indicator--1", {}, "private-address"), ("sighting--1", sighting(1, "indicator--1"), None)]
    )
    refusals.add([("sighting--1", sighting(1, "indicator--1"), "tlp-red")])
    assert refusals.reasons == {"indicator--1": "private-address", "sighting--1": "tlp-red"}


def test_a_sighting_in_an_earlier_chunk_of_a_refused_indicator_is_refused(
    settings: Settings, store: Store
) -> None:
    collection = settings.collection("security")
    assert collection is not None
    private, public = indicator(41, "10.1.2.3"), indicator(42, "198.51.100.42")
    posted = [sighting(1, private["id"]), sighting(2, public["id"]), public, {"type": "bad"}, private]
    report = ingest_objects(store, collection, posted, batch_size=2, sanitizer=Sanitizer(settings.sanitize))
    assert outcomes(report) == {
        posted[0]["id"]: "not_shared",
        posted[1]["id"]: "added",
        public["id"]: "added",
        "": "invalid",
        private["id"]: "not_shared",
    }
    stored = store.query(ObjectQuery(collection.id, limit=100)).objects
    assert {o.id for o in stored} == {posted[1]["id"], public["id"]}


def test_many_chunks_store_everything_once_in_order(settings: Settings, store: Store) -> None:
    collection = settings.collection("security")
    assert collection is not None
    posted = [indicator(100 + n, f"198.51.{n // 250}.{n % 250 + 1}") for n in range(1000)]
    report = ingest_objects(store, collection, posted, batch_size=64, sanitizer=Sanitizer(settings.sanitize))
    assert report.counts["added"] == 1000 and not report.failures
    assert [r.id for r in report.successes] == [o["id"] for o in posted]
    page = store.query(ObjectQuery(collection.id, limit=1000))
    assert [o.id for o in page.objects] == [o["id"] for o in posted]  # date_added follows the input


def test_containers_keep_their_references_and_odd_references_are_ignored() -> None:
    refusals = Refusals()
    report = obj(1, "indicator--1", kind="report")
    odd = {"type": "relationship", "id": "relationship--9", "source_ref": ["indicator--1"], "object_refs": 7}
    refusals.add(
        [("report--1", report, None), ("relationship--9", odd, None), ("indicator--1", {}, "tlp-red")]
    )
    assert refusals.reasons == {"indicator--1": "tlp-red"}
