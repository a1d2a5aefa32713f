"""The search suite: every filter, sort, facet and paging rule, against every backend."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from typing import Any

import orjson
import pytest

from indexer.search.model import SearchQuery, SearchSyntaxError
from indexer.store.base import NewObject, Store
from indexer.store.embedded import EmbeddedStore
from indexer.timestamps import parse_timestamp
from tests.data import (
    DOMAIN,
    EXPIRED,
    HASH,
    HOSTILE_TEXT,
    IDENTITIES,
    INDICATORS,
    IP,
    NET,
    ORG_A,
    PRIVATE,
    REVOKED,
    SIGHTINGS,
    TLP1_AMBER,
    TLP1_GREEN,
    URL,
    V6,
    numbered_indicator,
    sighting,
    stix_id,
)

COLL, OTHER = "city", "private"
# The search corpus (IP, DOMAIN, ... SIGHTINGS) is tests/data.py's, shared with the HTTP search tests.


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
    assert set(hits) <= {HOSTILE_TEXT["id"]}


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


def test_an_indicator_sighted_by_a_later_batch_is_still_found_by_its_words(store: Store) -> None:
    """The sighting counts a later batch changes must not cost the indicator its free text (over
    Elasticsearch a partial update re-indexed it without its words: found at 100k, lost at 1M)."""
    store.add_objects(COLL, [new(IP), new(DOMAIN)])
    store.add_objects(COLL, [new(SIGHTINGS[0])])  # another batch: only the counts of IP change
    for text in ("malicious", "hall", "198.51.100.7", "brute"):  # name, description, value, label
        assert ask(store, text=text) == [IP["id"]], text
    hit = store.search(SearchQuery(collections=(COLL,), ids=(IP["id"],))).hits[0]
    assert (hit.sightings, hit.organizations) == (5, 1)
    assert ask(store, text="evil") == [DOMAIN["id"]]


def test_a_new_version_replaces_the_old_in_the_index(filled: Store) -> None:
    newer = {**IP, "modified": "2026-05-01T00:00:00.000Z", "name": "renamed"}
    filled.add_objects(COLL, [new(newer)])
    assert ask(filled, text="renamed") == [IP["id"]]
    assert ask(filled, text="malicious") == []  # the old name is gone
    assert ask(filled, values=("198.51.100.7",)) == [IP["id"]]
    older = {**IP, "modified": "2026-02-01T00:00:00.000Z", "name": "older"}
    filled.add_objects(COLL, [new(older)])  # an older version arriving late changes nothing
    assert ask(filled, text="older") == []


def test_a_later_sighting_keeps_the_sighted_document_findable_by_text(store: Store) -> None:
    """A sighting written after its indicator updates the indicator's counts; the indicator must
    still be found by its words (Elasticsearch once updated the counts in place, which rebuilt the
    document from its _source, where the words are left out)."""
    indicator = numbered_indicator(
        500, "[domain-name:value = 'host.later.example']", "2026-02-05T20:00:00.000Z", name="later host"
    )
    store.add_objects(COLL, [new(indicator)])
    store.add_objects(COLL, [new(sighting(500, indicator["id"], ORG_A, 3, "2026-03-01T00:00:00.000Z"))])
    found = store.search(SearchQuery(collections=(COLL,), text="later", min_sightings=3))
    assert [hit.id for hit in found.hits] == [indicator["id"]]
    assert [
        hit.id for hit in store.search(SearchQuery(collections=(COLL,), text="host.later.example")).hits
    ] == [indicator["id"]]


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
    assert set(seen) == {DOMAIN["id"], URL["id"], EXPIRED["id"], HOSTILE_TEXT["id"]}
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
        numbered_indicator(
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


# The narrow table as version 3 made it (a store indexed then has it, and its insert trigger).
V3_FACET_DOCS = """
CREATE TABLE search_facet_docs (doc INTEGER PRIMARY KEY, facet_set INTEGER NOT NULL);
CREATE INDEX ix_search_facet_docs_set ON search_facet_docs (facet_set);
CREATE TRIGGER search_facet_docs_ai AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_facet_docs (doc, facet_set) SELECT new.rowid, s.id FROM search_facet_sets s
        WHERE s.collection = new.collection AND s.tlp_rank = COALESCE(new.tlp_rank, -1)
        AND s.type = new.type AND s.tlp = COALESCE(new.tlp, '') AND s.sources = new.sources
        AND s.labels = new.labels;
END;
CREATE TRIGGER search_facet_docs_ad AFTER DELETE ON search_docs BEGIN
    DELETE FROM search_facet_docs WHERE doc = old.rowid;
END;
INSERT INTO search_facet_docs SELECT d.rowid, s.id FROM search_docs d JOIN search_facet_sets s
    ON s.collection = d.collection AND s.tlp_rank = COALESCE(d.tlp_rank, -1) AND s.type = d.type
    AND s.tlp = COALESCE(d.tlp, '') AND s.sources = d.sources AND s.labels = d.labels;
"""


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_index_from_before_kept_facets_is_counted_once_on_open(filled: Store, version: int) -> None:
    """An index written by an older version is upgraded on open: the facets read the same, the
    narrow table gets its row filters, and writes after the upgrade keep it."""
    if not isinstance(filled, EmbeddedStore):
        pytest.skip("the embedded store's own index upgrade")
    everything = SearchQuery(collections=(COLL,), facets=True, limit=1)
    filtered = SearchQuery(collections=(COLL,), text="example", facets=True, limit=1)
    dated = replace(filtered, last_seen_after=parse_timestamp("2026-03-01T00:00:00Z"))
    want, want_filtered = filled.search(everything).facets, filled.search(filtered).facets
    assert want_filtered["type"] == {"indicator": 4}
    with closing(sqlite3.connect(filled.path)) as conn, conn:
        if version < 2:
            conn.execute("DELETE FROM search_facets")
        for trigger in ("search_facet_docs_ai", "search_facet_docs_au", "search_facet_docs_ad"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE search_facet_docs")
        if version < 3:  # no facet sets then
            conn.execute("DROP TABLE search_facet_sets")
        conn.execute("UPDATE search_meta SET version = ?", (version,))
    if version == 3:
        with closing(sqlite3.connect(filled.path)) as conn:
            conn.executescript(V3_FACET_DOCS)
            assert conn.execute("SELECT COUNT(*) FROM search_facet_docs").fetchone()[0] > 0
    EmbeddedStore(filled.path.parent).initialize()
    assert filled.search(everything).facets == want
    assert filled.search(filtered).facets == want_filtered
    assert filled.search(dated).facets == brute_force_facets(filled, dated)
    filled.add_objects(COLL, [new({**URL, "modified": "2026-06-01T00:00:00.000Z", "labels": ["moved"]})])
    filled.add_objects(COLL, [new(sighting(401, HASH["id"], ORG_A, 4, "2026-03-05T00:00:00.000Z"))])
    for query in (filtered, dated, replace(filtered, min_sightings=1)):
        assert filled.search(query).facets == brute_force_facets(filled, query), query
    assert filled.search(dated).facets["label"].get("moved") == 1


def brute_force_facets(store: Store, query: SearchQuery) -> dict[str, dict[str, int]]:
    """Facet counts by hand: page through every hit of the query and count what each one says."""
    counts: dict[str, dict[str, int]] = {"type": {}, "tlp": {}, "source": {}, "label": {}}
    query = replace(query, facets=False, limit=200, sort="-last_seen")
    while True:
        result = store.search(query)
        for hit in result.hits:
            for facet, values in (
                ("type", [hit.type]),
                ("tlp", [hit.tlp or "none"]),
                ("source", hit.sources),
                ("label", hit.labels),
            ):
                for value in values:
                    counts[facet][value] = counts[facet].get(value, 0) + 1
        if not result.more:
            return counts
        query = replace(query, after=result.hits[-1].position)


def test_filtered_facets_equal_a_brute_force_count(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Facets of a filtered search (text, access, type, TLP, source, label, dates, validity,
    sightings, revoked, CIDR) are exact, and follow new versions, deletes and new sightings."""
    if isinstance(filled, EmbeddedStore):
        from indexer.store import embedded_facets

        monkeypatch.setattr(embedded_facets, "FACET_CHUNK", 7)  # the text's rowids in several chunks
    varied = [
        numbered_indicator(
            100 + i,
            f"[domain-name:value = 'host{i}.facet.example']",
            f"2026-02-{1 + i % 28:02d}T{i * 5 % 24:02d}:00:00.000Z",  # at all hours: edge days
            name=f"facet host {i}",
            labels=[("phishing", "scanner", "c2")[i % 3], *(["brute-force"] if i % 4 == 0 else [])],
            external_references=[{"source_name": ("city-soc", "cert-fr")[i % 2], "description": "x"}],
            object_marking_refs=[(TLP1_GREEN, TLP1_AMBER)[i % 2]] if i % 5 else [],
            **({"valid_until": "2026-02-10T00:00:00.000Z"} if i % 7 == 0 else {}),
            **({"revoked": True} if i % 9 == 0 else {}),
        )
        for i in range(30)
    ]
    filled.add_objects(COLL, [new(o) for o in varied])
    filled.add_objects(OTHER, [new({**varied[0], "id": stix_id("indicator", 199)})])
    questions = [
        dict(text="facet"),
        dict(text="facet", max_tlp=1),
        dict(text="facet", collections=(COLL, OTHER)),
        dict(text="facet", labels=("scanner", "c2")),
        dict(text="facet", sources=("cert-fr",), tlp=("amber",)),
        dict(text="facet", types=("indicator",), max_tlp=2),
        dict(text="example"),
        dict(text="nothing-matches-this"),
        dict(types=("indicator",)),
        dict(labels=("phishing",), collections=(COLL, OTHER)),
        dict(first_seen_after=0, max_tlp=1),
        dict(text="facet", last_seen_after=parse_timestamp("2026-02-15T00:00:00Z")),
        dict(
            text="facet",
            max_tlp=2,
            labels=("scanner",),
            last_seen_after=parse_timestamp("2026-02-05T00:00:00Z"),
            last_seen_before=parse_timestamp("2026-02-20T00:00:00Z"),
        ),
        dict(text="facet", first_seen_before=parse_timestamp("2026-01-01T00:00:00Z"), revoked=False),
        dict(text="facet", valid_at=parse_timestamp("2026-02-12T00:00:00Z")),
        dict(valid_at=parse_timestamp("2026-02-12T00:00:00Z"), collections=(COLL, OTHER)),
        dict(last_seen_before=parse_timestamp("2026-02-10T00:00:00Z"), types=("indicator",)),
        dict(revoked=True),
        # One date's range alone: kept counts per day, the edges counted exactly.
        dict(last_seen_after=parse_timestamp("2026-02-10T00:00:00Z")),  # on a day's start
        dict(last_seen_after=parse_timestamp("2026-02-10T12:00:00Z")),  # mid-day
        dict(last_seen_after=parse_timestamp("2026-02-10T12:00:00Z"), max_tlp=1),
        dict(last_seen_before=parse_timestamp("2026-02-10T00:00:00Z")),  # takes that midnight in
        dict(
            last_seen_after=parse_timestamp("2026-02-03T00:00:00Z"),
            last_seen_before=parse_timestamp("2026-02-20T23:59:59.999999Z"),
            collections=(COLL, OTHER),
        ),
        dict(
            last_seen_after=parse_timestamp("2026-02-07T00:00:00Z"),
            last_seen_before=parse_timestamp("2026-02-07T06:00:00Z"),
        ),  # within one day
        dict(first_seen_after=parse_timestamp("2026-01-01T00:00:00.000001Z")),
        dict(first_seen_before=parse_timestamp("2026-01-01T00:00:00Z"), labels=("c2",)),
        dict(first_seen_before=0),
        dict(min_sightings=1),
        dict(text="facet", min_sightings=3),
        dict(text="facet", values=("host3.facet.example",)),
        dict(cidr="198.51.100.0/24"),
    ]

    def check() -> None:
        for filters in questions:
            query = SearchQuery(**{"collections": (COLL,), **filters, "facets": True, "limit": 1})
            result, want = filled.search(query), brute_force_facets(filled, query)
            assert result.facets == want, filters
            # The embedded store takes an exact total from its facets' counts: one per match.
            assert result.total == sum(want["type"].values()) and result.total_is_exact, filters
            assert result.total == filled.search(replace(query, facets=False)).total, filters

    check()
    filled.add_objects(COLL, [new({**varied[1], "modified": "2026-05-01T00:00:00.000Z", "labels": ["new"]})])
    filled.delete_object(COLL, varied[2]["id"])
    check()
    # Sightings change a document's counts in place (the embedded store's narrow row must follow;
    # Elasticsearch indexes the document again whole).
    later = sighting(400, varied[4]["id"], ORG_A, 3, "2026-03-01T00:00:00.000Z")
    filled.add_objects(COLL, [new(later)])
    assert filled.search(SearchQuery(collections=(COLL,), text="facet", min_sightings=3)).total == 1
    check()


def test_facets_of_many_text_matches_are_sampled_and_say_so(store: Store) -> None:
    """Embedded store: past facet_sample text matches the facets are a scaled-up sample, flagged;
    at or below it (and without a sample size) they are exact."""
    if not isinstance(store, EmbeddedStore):
        pytest.skip("sampling is the embedded store's; Elasticsearch counts every match")
    objects = [
        numbered_indicator(
            300 + i,
            f"[domain-name:value = 'host{i}.sampled.example']",
            f"2026-02-{1 + i % 28:02d}T00:00:00.000Z",
            labels=[("phishing", "scanner")[i % 2]],
        )
        for i in range(200)
    ]
    store.add_objects(COLL, [new(o) for o in objects])
    query = SearchQuery(collections=(COLL,), text="sampled", facets=True, limit=1)
    exact = brute_force_facets(store, query)
    assert exact["label"] == {"phishing": 100, "scanner": 100}
    for sample in (None, 200, 1000):
        result = store.search(replace(query, facet_sample=sample))
        assert result.facets == exact and result.facets_sample == 0, sample
    sampled = store.search(replace(query, facet_sample=40))
    assert 0 < sampled.facets_sample < 200  # about 40 of the 200 were counted
    # With a date filter the sample is of the text's matches and scaled to those in the dates.
    late = replace(query, last_seen_after=parse_timestamp("2026-02-15T00:00:00Z"))
    late_exact = brute_force_facets(store, late)
    assert late_exact["type"] == {"indicator": 98}
    late_sampled = store.search(replace(late, facet_sample=40))
    assert 0 < late_sampled.facets_sample < 98
    assert 49 <= late_sampled.facets["type"]["indicator"] <= 196, late_sampled.facets
    latest = replace(query, last_seen_after=parse_timestamp("2026-02-25T00:00:00Z"), facet_sample=40)
    few = store.search(latest)  # 28 in the dates: at most the sample size, so counted exactly
    assert few.facets_sample == 0 and few.facets == brute_force_facets(store, latest)
    assert abs(sampled.facets["type"]["indicator"] - 200) <= 1  # scaled up to every match
    assert set(sampled.facets["label"]) == {"phishing", "scanner"}
    assert all(40 <= n <= 160 for n in sampled.facets["label"].values()), sampled.facets
    assert sampled.hits == store.search(query).hits and sampled.total == 200  # hits untouched
    # The word is common, but not in what this caller may read: exact.
    theirs = [{**o, "id": stix_id("indicator", 600 + i)} for i, o in enumerate(objects[:50])]
    store.add_objects(OTHER, [new(o) for o in theirs])
    private = replace(query, collections=(OTHER,), facet_sample=100)
    mine = store.search(private)
    assert mine.facets_sample == 0 and mine.facets == brute_force_facets(store, private)
    assert mine.facets["type"] == {"indicator": 50}


def test_times_just_before_1970_are_stored_found_and_paged(store: Store) -> None:
    """Elasticsearch 7 refuses the epoch milliseconds -999 to -1 in a date field and in a range:
    a valid indicator whose valid_from is 1969-12-31T23:59:59.5Z was refused on that backend
    only, and a search from such a time was an error."""
    early, late = "1969-12-31T23:59:59.500Z", "1969-12-31T23:59:59.900Z"
    made = [
        numbered_indicator(
            600 + n,
            f"[domain-name:value = 'old{n}.example']",
            "2026-01-01T00:00:00.000Z",
            valid_from=seen,
            created=seen,
        )
        for n, seen in enumerate((early, late))
    ]
    assert store.add_objects(COLL, [new(o) for o in made]) == ["added", "added"]
    ids = [o["id"] for o in made]
    since = parse_timestamp("1969-12-31T23:59:59.700Z")
    assert ask(store, first_seen_after=since) == [ids[1]]
    assert ask(store, first_seen_before=since) == [ids[0]]
    seen: list[str] = []
    query = SearchQuery(collections=(COLL,), text="example", sort="first_seen", limit=1, first_seen_before=0)
    while True:
        result = store.search(query)
        seen.extend(h.id for h in result.hits)
        if not result.more:
            break
        query = replace(query, after=result.hits[-1].position)
    assert seen == ids
    assert [h.first_seen for h in store.search(replace(query, after=None, limit=10)).hits] == [
        parse_timestamp(early),
        parse_timestamp(late),
    ]
