"""Digest subscriptions, digest state and the check-report queue: the same contract on every
backend (the `store` fixture), plus the Elasticsearch mixin's documents through a dict stand-in
for the meta index (Elasticsearch cannot run here; with CYBERLAB_ES_URL the contract runs on it)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from indexer.store.base import CheckReport, DigestState, DigestSubscription, Store
from indexer.store.elastic_digest import ElasticDigestReports

SUB = DigestSubscription("acme", True, "weekly", ("c1", "c2"), "owner@acme.example", True, 5)


def contract(store: Any) -> None:
    assert store.get_digest_subscription("acme") is None and store.list_digest_subscriptions() == []
    store.save_digest_subscription(SUB)
    assert store.get_digest_subscription("acme") == SUB
    store.save_digest_state(DigestState("acme", 100, 200))
    # Saving the form again never loses how far the last digest went.
    store.save_digest_subscription(replace(SUB, enabled=False, collections=("c1",), updated=6))
    assert store.get_digest_state("acme") == DigestState("acme", 100, 200)
    assert store.list_digest_subscriptions() == [replace(SUB, enabled=False, collections=("c1",), updated=6)]
    store.save_digest_state(DigestState("acme", 300, 400))
    assert store.get_digest_state("acme") == DigestState("acme", 300, 400)
    assert store.get_digest_state("other") is None

    first = CheckReport("r1", "acme", "domain", "bad.example.com", 10)
    second = CheckReport("r2", "bob", "ipv4", "203.0.113.9", 20)
    store.add_check_report(second)
    store.add_check_report(first)
    assert [r.id for r in store.list_check_reports()] == ["r1", "r2"]  # oldest first
    decided = replace(first, status="rejected", reason="parked", decided_by="ana", decided=30)
    store.update_check_report(decided)
    assert store.get_check_report("r1") == decided
    assert [r.id for r in store.list_check_reports("open")] == ["r2"]
    assert [r.id for r in store.list_check_reports("rejected")] == ["r1"]
    assert store.get_check_report("nope") is None


def test_every_backend_keeps_subscriptions_state_and_reports(store: Store) -> None:
    contract(store)


class MetaIndexStandIn(ElasticDigestReports):
    """The meta index as a dict of documents, filtered by `kind` as ElasticStore._find does."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def _put(self, doc_id: str, body: dict[str, Any], listed: bool = False) -> None:
        import json

        self.docs[doc_id] = json.loads(json.dumps(body))  # what comes back from JSON: lists, not tuples

    def _get(self, doc_id: str) -> dict[str, Any] | None:
        return self.docs.get(doc_id)

    def _find(self, kind: str, **terms: Any) -> list[dict[str, Any]]:
        return [d for d in self.docs.values() if d["kind"] == kind]


def test_elasticsearch_documents_round_trip() -> None:
    meta = MetaIndexStandIn()
    contract(meta)
    assert set(meta.docs) == {"digest|acme", "digest_state|acme", "check_report|r1", "check_report|r2"}
    assert all(set(d) == {"kind", "key", "record"} for d in meta.docs.values())
