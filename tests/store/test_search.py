"""The search suite: every filter, sort, facet and paging rule, against every backend."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from dataclasses import replace
from typing import Any

import orjson
import pytest

from indexer.search.model import SearchQuery, SearchSyntaxError
from indexer.store.base import NewObject, Store
from indexer.store.embedded import EmbeddedStore
from indexer.timestamps import parse_timestamp

COLL, OTHER = "city", "private"
GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
ORG_A = "identity--" + str(uuid.UUID(int=0xA, version=4))
ORG_B = "identity--" + str(uuid.UUID(int=0xB, version=4))


def stix_id(stix_type: str, n: int) -> str:
    return f"{stix_type}--{uuid.UUID(int=n, version=4)}"


def indicator(n: int, pattern: str, seen: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id("indicator", n),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": seen,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
        "object_marking_refs": [GREEN],
        **extra,
    }


def sighting(n: int, of: str, org: str, count: int, seen: str) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": stix_id("sighting", n),
        "created": seen,
        "modified": seen,
        "sighting_of_ref": of,
        "where_sighted_refs": [org],
        "count": count,
        "first_seen": seen,
        "last_seen": seen,
    }


IP = indicator(
    1,
    "[ipv4-addr:value = '198.51.100.7']",
    "2026-03-01T00:00:00.000Z",
    name="Malicious IP address: 198.51.100.7",
    description="SSH brute force against city hall",
    labels=["brute-force"],
    external_references=[{"source_name": "city-soc", "description": "Reported by city-soc"}],
)
NET = indicator(2, "[ipv4-addr:value = '198.51.100.128/25']", "2026-02-01T00:00:00.000Z")
V6 = indicator(3, "[ipv6-addr:value = '2001:db8::1']", "2026-02-02T00:00:00.000Z")
DOMAIN = indicator(
    4,
    "[domain-name:value = 'Evil.Example.com']",
    "2026-04-01T00:00:00.000Z",
    labels=["phishing"],
    external_references=[{"source_name": "cert-fr", "description": "Reported by cert-fr"}],
    object_marking_refs=[AMBER],
)
URL = indicator(5, "[url:value = 'http://cdn.evil.example.com/x.exe']", "2026-01-15T00:00:00.000Z")
HASH = indicator(6, "[file:hashes.'SHA-256' = '" + "AB" * 32 + "']", "2026-01-20T00:00:00.000Z")
REVOKED = indicator(7, "[ipv4-addr:value = '203.0.113.9']", "2026-01-10T00:00:00.000Z", revoked=True)
EXPIRED = indicator(
    8,
    "[domain-name:value = 'old.example.org']",
    "2026-01-05T00:00:00.000Z",
    valid_until="2026-02-01T00:00:00Z",
)
# Attacker-written text: search must treat it as words, never as query syntax.
HOSTILE = indicator(
    9,
    "[url:value = 'http://x.example/?q=1\\'%20OR%201=1%20--%20\"AND\"%20NEAR(a%20b)*']",
    "2026-01-25T00:00:00.000Z",
    name='title: "quoted" OR * AND NOT (x)',
)
PRIVATE = indicator(10, "[ipv4-addr:value = '198.51.100.8']", "2026-03-02T00:00:00.000Z")
INDICATORS = [IP, NET, V6, DOMAIN, URL, HASH, REVOKED, EXPIRED, HOSTILE]
SIGHTINGS = [
    sighting(20, IP["id"], ORG_A, 5, "2026-03-01T10:00:00.000Z"),
    sighting(21, IP["id"], ORG_B, 2, "2026-03-02T10:00:00.000Z"),
    sighting(22, DOMAIN["id"], ORG_A, 1, "2026-03-02T11:00:00.000Z"),
]
IDENTITIES = [
    {
        "type": "identity",
        "spec_version": "2.1",
        "id": org,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": name,
        "identity_class": "organization",
    }
    for org, name in ((ORG_A, "Acme Bakery"), (ORG_B, "Main Street Dental"))
]


def new(obj: dict[str, Any]) -> NewObject:
    stamp = obj.get("modified", "2026-01-01T00:00:00.000Z")
    return NewObject(obj["id"], obj["type"], parse_timestamp(stamp), stamp, "2.1", orjson.dumps(obj))


@pytest.fixture
def filled(store: Store) -> Store:
    store.add_objects(COLL, [new(o) for o in [*IDENTITIES, *INDICATORS, *SIGHTINGS]])
    store.add_objects(OTHER, [new(PRIVATE)])
    return store


def ask(store: Store, **filters: Any) -> list[str]:
    result = store.search(SearchQuery(collections=(COLL,), types=("indicator",), **filters))
    return [hit.id for hit in result.hits]


def test_exact_value_ignores_case_and_finds_every_kind(filled: Store) -> None:
    assert ask(filled, values=("198.51.100.7",)) == [IP["id"]]
    assert ask(filled, values=("evil.example.COM",)) == [DOMAIN["id"]]
    assert ask(filled, values=("ab" * 32,)) == [HASH["id"]]
    assert ask(filled, values=("198.51.100.70",)) == []


def test_cidr_containment(filled: Store) -> None:
    assert set(ask(filled, cidr="198.51.100.0/24")) == {IP["id"], NET["id"]}
    assert ask(filled, cidr="198.51.100.0/25") == [IP["id"]]  # the /25 network is not inside
    assert ask(filled, cidr="2001:db8::/32") == [V6["id"]]
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        ask(filled, cidr="198.51.100.0/33")


def test_domain_suffix_covers_subdomains_and_urls(filled: Store) -> None:
    assert set(ask(filled, domain="example.com")) == {DOMAIN["id"], URL["id"]}
    assert set(ask(filled, domain="evil.example.com")) == {DOMAIN["id"], URL["id"]}
    assert ask(filled, domain="xample.com") == []  # a suffix of labels, not of characters


def test_free_text_over_names_descriptions_and_values(filled: Store) -> None:
    assert ask(filled, text="brute") == [IP["id"]]
    assert ask(filled, text="city hall") == [IP["id"]]
    assert ask(filled, text="198.51.100.7") == [IP["id"]]
    assert set(ask(filled, text="evil")) == {DOMAIN["id"], URL["id"]}


@pytest.mark.parametrize(
    "text",
    ['"', "' OR 1=1 --", "NEAR(a b)*", "AND", "title:", '"quoted" OR *', "x) OR (y", "\\", "%_", "*"],
)
def test_query_syntax_in_plain_text_is_just_text(filled: Store, text: str) -> None:
    hits = ask(filled, text=text)
    assert set(hits) <= {HOSTILE["id"]}


def test_advanced_syntax_is_opt_in_and_errors_are_client_errors(filled: Store) -> None:
    assert ask(filled, text="brute OR phishing") == []  # plain: three words, all required
    assert set(ask(filled, text="brute OR phishing", advanced=True)) == {IP["id"], DOMAIN["id"]}
    with pytest.raises(SearchSyntaxError):
        ask(filled, text='"unbalanced', advanced=True)


def test_source_label_tlp_and_revoked_filters(filled: Store) -> None:
    assert ask(filled, sources=("cert-fr",)) == [DOMAIN["id"]]
    assert ask(filled, labels=("brute-force", "phishing"), sort="value") == [IP["id"], DOMAIN["id"]]
    assert ask(filled, tlp=("amber",)) == [DOMAIN["id"]]
    assert ask(filled, revoked=True) == [REVOKED["id"]]
    assert REVOKED["id"] not in ask(filled, revoked=False)


def test_tlp_clearance_hides_what_the_caller_may_not_see(filled: Store) -> None:
    assert DOMAIN["id"] in ask(filled)
    assert DOMAIN["id"] not in ask(filled, max_tlp=1)  # green clearance
    assert IP["id"] in ask(filled, max_tlp=1)


def test_only_the_callers_collections(filled: Store) -> None:
    assert PRIVATE["id"] not in ask(filled)
    both = filled.search(SearchQuery(collections=(COLL, OTHER), values=("198.51.100.8",)))
    assert [h.id for h in both.hits] == [PRIVATE["id"]]


def test_time_ranges_and_validity(filled: Store) -> None:
    march = parse_timestamp("2026-03-01T00:00:00Z")
    assert set(ask(filled, last_seen_after=march)) == {IP["id"], DOMAIN["id"]}
    assert EXPIRED["id"] not in ask(filled, valid_at=parse_timestamp("2026-03-01T00:00:00Z"))
    assert EXPIRED["id"] in ask(filled, valid_at=parse_timestamp("2026-01-10T00:00:00Z"))


def test_sighting_counts_and_filters(filled: Store) -> None:
    result = filled.search(SearchQuery(collections=(COLL,), ids=(IP["id"],)))
    assert (result.hits[0].sightings, result.hits[0].organizations) == (7, 2)
    assert ask(filled, min_sightings=2) == [IP["id"]]
    assert set(ask(filled, min_sightings=1)) == {IP["id"], DOMAIN["id"]}
    assert ask(filled, sort="-sightings")[:2] == [IP["id"], DOMAIN["id"]]


def test_a_repeated_sighting_is_not_counted_twice(filled: Store) -> None:
    filled.add_objects(COLL, [new(SIGHTINGS[0])])
    hit = filled.search(SearchQuery(collections=(COLL,), ids=(IP["id"],))).hits[0]
    assert hit.sightings == 7


def test_a_new_version_replaces_the_old_in_the_index(filled: Store) -> None:
    newer = {**IP, "modified": "2026-05-01T00:00:00.000Z", "name": "renamed"}
    filled.add_objects(COLL, [new(newer)])
    assert ask(filled, text="renamed") == [IP["id"]]
    assert ask(filled, text="malicious") == []  # the old name is gone
    assert ask(filled, values=("198.51.100.7",)) == [IP["id"]]
    older = {**IP, "modified": "2026-02-01T00:00:00.000Z", "name": "older"}
    filled.add_objects(COLL, [new(older)])  # an older version arriving late changes nothing
    assert ask(filled, text="older") == []


def test_delete_updates_the_index(filled: Store) -> None:
    filled.delete_object(COLL, IP["id"])
    assert ask(filled, values=("198.51.100.7",)) == []


def test_sorting_and_keyset_paging_visit_every_hit_once(filled: Store) -> None:
    everything = ask(filled, limit=100)
    assert len(everything) == len(INDICATORS)
    for sort in ("-last_seen", "last_seen", "first_seen", "-sightings", "value"):
        seen: list[str] = []
        query = SearchQuery(collections=(COLL,), types=("indicator",), sort=sort, limit=2)
        while True:
            result = filled.search(query)
            seen.extend(h.id for h in result.hits)
            if not result.more:
                break
            query = replace(query, after=result.hits[-1].position)
        assert sorted(seen) == sorted(everything), sort
        assert len(seen) == len(set(seen)), sort
    assert ask(filled, sort="-last_seen")[0] == DOMAIN["id"]  # 2026-04-01, the newest


def test_relevance_paging(filled: Store) -> None:
    query = SearchQuery(collections=(COLL,), text="example", sort="relevance", limit=1)
    seen = []
    while True:
        result = filled.search(query)
        seen.extend(h.id for h in result.hits)
        if not result.more:
            break
        query = replace(query, after=result.hits[-1].position)
    assert set(seen) == {DOMAIN["id"], URL["id"], EXPIRED["id"], HOSTILE["id"]}
    assert len(seen) == 4


def test_facets_and_histogram(filled: Store) -> None:
    result = filled.search(SearchQuery(collections=(COLL,), facets=True, histogram=True))
    assert result.facets["type"] == {"indicator": 9, "sighting": 3, "identity": 2}
    assert result.facets["source"] == {"city-soc": 1, "cert-fr": 1}
    assert result.facets["label"] == {"brute-force": 1, "phishing": 1}
    assert result.facets["tlp"]["amber"] == 1
    day = 86_400_000_000
    assert result.histogram == [
        (parse_timestamp("2026-03-01T00:00:00Z") // day * day, 5),
        (parse_timestamp("2026-03-02T00:00:00Z") // day * day, 3),
    ]
    assert result.total == 14 and result.total_is_exact


def test_kept_facet_counts_follow_new_versions_deletes_and_clearance(filled: Store) -> None:
    """Unfiltered facets come from counts kept on write; they must equal a scan of the documents."""
    relabelled = {**IP, "modified": "2026-05-01T00:00:00.000Z", "labels": ["scanner", "brute-force"]}
    filled.add_objects(COLL, [new(relabelled)])
    filled.delete_object(COLL, DOMAIN["id"])
    for max_tlp in (4, 1):
        for collections in ((COLL,), (COLL, OTHER)):
            kept = filled.search(SearchQuery(collections=collections, max_tlp=max_tlp, facets=True, limit=1))
            # first_seen_after=0 matches everything but makes the search "filtered": a scan.
            scanned = filled.search(
                SearchQuery(
                    collections=collections, max_tlp=max_tlp, facets=True, limit=1, first_seen_after=0
                )
            )
            assert kept.facets == scanned.facets, (max_tlp, collections)
    assert kept.facets["label"]["scanner"] == 1


def test_sightings_and_relations_for_the_pivot(filled: Store) -> None:
    relationship = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": stix_id("relationship", 30),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": IP["id"],
        "target_ref": ORG_A,
    }
    filled.add_objects(COLL, [new(relationship)])
    sightings = filled.sightings_of(IP["id"], (COLL,))
    assert {(s.observer_name, s.count) for s in sightings} == {("Acme Bakery", 5), ("Main Street Dental", 2)}
    assert filled.sightings_of(IP["id"], (OTHER,)) == []
    (rel,) = filled.related(IP["id"], (COLL,))
    assert (rel.relationship_type, rel.direction, rel.other_id, rel.other_name) == (
        "indicates",
        "outgoing",
        ORG_A,
        "Acme Bakery",
    )
    (back,) = filled.related(ORG_A, (COLL,))
    assert back.direction == "incoming" and back.other_id == IP["id"]


def test_a_word_in_many_documents_is_walked_newest_first(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedded store: past BROAD_MATCHES matches, relevance gives way to recency (bm25 would score
    every match); paging still visits every match once, and the total stays exact."""
    if not isinstance(store, EmbeddedStore):
        pytest.skip("the broad-word walk is the embedded store's; Elasticsearch ranks with its own index")
    from indexer.store import embedded_search

    monkeypatch.setattr(embedded_search, "BROAD_MATCHES", 3)
    objects = [
        indicator(
            200 + i,
            f"[domain-name:value = 'host{i}.broadword.example']",
            f"2026-04-{1 + i:02d}T00:00:00.000Z",
        )
        for i in range(12)
    ]
    store.add_objects(COLL, [new(o) for o in objects])
    query = SearchQuery(collections=(COLL,), text="broadword", sort="relevance", limit=5)
    seen: list[str] = []
    while True:
        result = store.search(query)
        assert result.total == 12 and result.total_is_exact
        seen.extend(h.id for h in result.hits)
        if not result.more:
            break
        query = replace(query, after=result.hits[-1].position)
    assert seen == [o["id"] for o in reversed(objects)]  # newest first, each once
    narrow = store.search(SearchQuery(collections=(COLL,), text="host3.broadword.example", sort="relevance"))
    assert [h.id for h in narrow.hits][:1] == [objects[3]["id"]]  # few matches: ranked by bm25


def test_an_index_from_before_kept_facets_is_counted_once_on_open(filled: Store) -> None:
    if not isinstance(filled, EmbeddedStore):
        pytest.skip("the embedded store's own index upgrade")
    want = filled.search(SearchQuery(collections=(COLL,), facets=True, limit=1)).facets
    with closing(sqlite3.connect(filled.path)) as conn, conn:
        conn.execute("DELETE FROM search_facets")
        conn.execute("UPDATE search_meta SET version = 1")  # as a store indexed before version 2
    EmbeddedStore(filled.path.parent).initialize()
    assert filled.search(SearchQuery(collections=(COLL,), facets=True, limit=1)).facets == want
