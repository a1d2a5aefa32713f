"""A store whose indices mapping version 2 made is served as it is, without a reindex.

Version 3 indexes each search text once (its t_* words); version 2 also analyzed value, name,
description and pattern as text with a keyword beside. Every request reads only fields both index,
so a version 2 store (built here from the version 2 search template, kept below as data) answers
searches, sightings, pivots and takes writes exactly as a version 3 store filled the same way;
an index of mapping version 1 is still refused at start with the reindex message. Real node only.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace
from typing import Any

import pytest

from indexer.errors import StoreError
from indexer.search.model import SearchQuery
from indexer.store import elastic_queries as q
from tests.data import DOMAIN, IDENTITIES, INDICATORS, IP, ORG_A, SIGHTINGS, URL, sighting, stix_id
from tests.store.test_search import COLL, new

if not os.environ.get("CYBERLAB_ES_URL"):
    pytest.skip(
        "Elasticsearch tests need CYBERLAB_ES_URL (e.g. http://127.0.0.1:9200)", allow_module_level=True
    )

from config.settings import ElasticsearchSettings
from indexer.store.elastic import ElasticStore, search_source

_K = {"type": "keyword"}
_LK = {"type": "keyword", "ignore_above": 8191}
_TEXT_AND_KEYWORD = {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 1024}}}
_WORDS = {"type": "text", "analyzer": "standard"}
# The search index's mapping as mapping version 2 made it (main at 5c15b3e).
V2_SEARCH: dict[str, Any] = {
    "dynamic": "strict",
    "_meta": {"cyberlab_mapping": 2},
    "_source": {"excludes": ["t_*"]},
    "properties": {
        "doc_key": _K,
        "collection": _LK,
        "id": _LK,
        "type": _LK,
        "version": {"type": "long"},
        "value": _TEXT_AND_KEYWORD,
        "values": {"type": "object", "enabled": False},
        "value_keys": _LK,
        "ip_ranges": {"type": "ip_range"},
        "domain_revs": _LK,
        "name": _TEXT_AND_KEYWORD,
        "description": _TEXT_AND_KEYWORD,
        "pattern": _TEXT_AND_KEYWORD,
        "labels": _LK,
        "t_value": _WORDS,
        "t_name": _WORDS,
        "t_description": _WORDS,
        "t_pattern": _WORDS,
        "t_labels": _WORDS,
        "sources": _LK,
        "tlp": _LK,
        "tlp_rank": {"type": "byte"},
        "created_by": _LK,
        "first_seen": {"type": "date"},
        "last_seen": {"type": "date"},
        "valid_from": {"type": "date"},
        "valid_until": {"type": "date"},
        "revoked": {"type": "boolean"},
        "sightings": {"type": "long"},
        "organizations": {"type": "long"},
        "sighting_of_ref": _LK,
        "observer": _LK,
        "count": {"type": "long"},
        "source_ref": _LK,
        "target_ref": _LK,
        "relationship_type": _LK,
        "date_added": {"type": "long"},
    },
}
RELATIONSHIP = {
    "type": "relationship",
    "spec_version": "2.1",
    "id": stix_id("relationship", 30),
    "created": "2026-03-01T00:00:00.000Z",
    "modified": "2026-03-01T00:00:00.000Z",
    "relationship_type": "related-to",
    "source_ref": IP["id"],
    "target_ref": DOMAIN["id"],
}
QUERIES = [
    SearchQuery(collections=(COLL,), text="evil"),
    SearchQuery(collections=(COLL,), text="evil example", sort="value"),
    SearchQuery(collections=(COLL,), text="198.51.100.7"),
    SearchQuery(collections=(COLL,), text="brute OR phishing", advanced=True),
    SearchQuery(collections=(COLL,), sort="value"),
    SearchQuery(collections=(COLL,), sort="-sightings", facets=True, histogram=True),
    SearchQuery(collections=(COLL,), cidr="198.51.100.0/24", sort="first_seen"),
    SearchQuery(collections=(COLL,), domain="example.com"),
    SearchQuery(collections=(COLL,), values=("198.51.100.7",), min_sightings=1),
    SearchQuery(collections=(COLL,), labels=("brute-force",), revoked=False),
]


def _settings(prefix: str) -> ElasticsearchSettings:
    return ElasticsearchSettings(hosts=(os.environ["CYBERLAB_ES_URL"],), index_prefix=prefix)


def _v2_store(prefix: str) -> ElasticStore:
    """Indices as a version 2 CyberLab created them, then opened by this one."""
    store = ElasticStore(_settings(prefix))
    es = store._es()
    for name, template in q.templates(prefix).items():
        if name.endswith("-search"):
            template = {**template, "mappings": V2_SEARCH}
        else:  # objects and meta: the same mapping in both versions, but the version it says
            template = {**template, "mappings": {**template["mappings"], "_meta": {"cyberlab_mapping": 2}}}
        body = {"settings": template["settings"], "mappings": template["mappings"]}
        es.indices.create(index=template["index_patterns"][0], body=body)
    return store


def _drop(store: ElasticStore) -> None:
    store._es().indices.delete(index=f"{store.settings.index_prefix}-*")
    store._es().indices.delete_template(name=f"{store.settings.index_prefix}-*", ignore=404)
    store.close()


def _fill(store: ElasticStore) -> None:
    store.add_objects(COLL, [new(o) for o in [*IDENTITIES, *INDICATORS, *SIGHTINGS, RELATIONSHIP]])


@pytest.fixture
def stores() -> Iterator[tuple[ElasticStore, ElasticStore]]:
    tag = uuid.uuid4().hex[:12]
    old, current = _v2_store(f"cyberlab-test-v2-{tag}"), ElasticStore(_settings(f"cyberlab-test-v3-{tag}"))
    try:
        old.initialize()  # not refused, and nothing to reindex
        current.initialize()
        _fill(old)
        _fill(current)
        yield old, current
    finally:
        _drop(old)
        _drop(current)


def _mapping_version(store: ElasticStore) -> int:
    index = store.names["search"]
    return int(store._es().indices.get_mapping(index=index)[index]["mappings"]["_meta"]["cyberlab_mapping"])


def _answers(store: ElasticStore) -> list[Any]:
    """Everything the search side answers, but the hits' sort positions (a score, once)."""
    answers: list[Any] = []
    for query in QUERIES:
        result = store.search(query)
        hits = [{k: v for k, v in asdict(h).items() if k != "position"} for h in result.hits]
        answers.append((hits, result.total, result.facets, result.histogram))
    relevance = store.search(SearchQuery(collections=(COLL,), text="example", sort="relevance"))
    answers.append(sorted(h.id for h in relevance.hits))  # the order is the scores': norms differ
    answers.append(store.sightings_of(IP["id"], (COLL,)))
    answers.append(store.related(IP["id"], (COLL,)))
    answers.append(store.related(DOMAIN["id"], (COLL,)))
    return answers


def test_a_version_2_store_answers_as_a_version_3_store(stores: tuple[ElasticStore, ElasticStore]) -> None:
    old, current = stores
    assert (_mapping_version(old), _mapping_version(current)) == (2, 3)
    answers = _answers(old)
    assert answers == _answers(current)
    # The answers are not empty by accident: words, value sort, observer and pivot names all served.
    assert [h["id"] for h in answers[0][0]] == [DOMAIN["id"], URL["id"]]
    by_value = [" ".join(v["value"] for v in h["values"]) for h in answers[4][0] if h["values"]]
    assert len(by_value) > 3 and by_value == sorted(by_value)
    observers = {s.observer_name for s in old.sightings_of(IP["id"], (COLL,))}
    assert observers == {"Acme Bakery", "Main Street Dental"}
    assert [r.other_name for r in old.related(DOMAIN["id"], (COLL,))] == [IP["name"]]


def test_a_version_2_store_takes_writes(stores: tuple[ElasticStore, ElasticStore]) -> None:
    old, current = stores
    renamed = {**DOMAIN, "modified": "2026-05-01T00:00:00.000Z", "name": "Quokka landing page"}
    later = sighting(23, DOMAIN["id"], ORG_A, 4, "2026-05-02T10:00:00.000Z")
    for store in (old, current):
        store.add_objects(COLL, [new(renamed)])  # a new version: its search document replaced
        store.add_objects(COLL, [new(later)])  # another batch: DOMAIN's counts redone from its body
        assert store.delete_object(COLL, URL["id"]) == 1
    assert _answers(old) == _answers(current)
    found = old.search(SearchQuery(collections=(COLL,), text="quokka"))
    # counts summed: the first sighting (1) and the later one (4)
    assert [(h.id, h.name, h.sightings) for h in found.hits] == [(DOMAIN["id"], "Quokka landing page", 5)]
    assert not old.search(replace(QUERIES[0], text="cdn")).hits  # the deleted URL is gone
    assert _mapping_version(old) == 2  # served in place, never rewritten


def test_a_version_1_index_is_refused_with_the_reindex_message() -> None:
    store = ElasticStore(_settings(f"cyberlab-test-v1-{uuid.uuid4().hex[:12]}"))
    try:
        store._es().indices.create(index=store.names["search"], body={"mappings": {"properties": {}}})
        refusal = r"mapping version 1, this CyberLab reads 2 or 3;.*cyberlab reindex"
        with pytest.raises(StoreError, match=refusal):
            store.initialize()
    finally:
        _drop(store)


def test_a_search_document_without_its_version_keeps_its_words_when_a_later_sighting_counts() -> None:
    """A search document some earlier build wrote without its object version (or whose version
    is gone) is rebuilt from the latest stored version when a sighting changes its counts, not
    updated in place: that would rebuild it from _source, which leaves the words out."""
    store = ElasticStore(_settings(f"cyberlab-test-nover-{uuid.uuid4().hex[:12]}"))
    try:
        store.initialize()
        store.add_objects(COLL, [new(IP)])
        es, doc_id = store._es(), f"{COLL}|{IP['id']}"
        unversioned = search_source(COLL, IP, 1)  # words and all, but no "version"
        assert unversioned is not None and "version" not in unversioned
        es.index(index=store.names["search"], id=doc_id, document=unversioned, refresh=True)
        store.add_objects(COLL, [new(SIGHTINGS[0])])  # a later batch: only IP's counts change
        for text in ("malicious", "198.51.100.7"):
            hits = store.search(SearchQuery(collections=(COLL,), text=text)).hits
            assert [h.id for h in hits] == [IP["id"]], text
        assert store.search(SearchQuery(collections=(COLL,), ids=(IP["id"],))).hits[0].sightings == 5
    finally:
        _drop(store)
