"""Every request body the Elasticsearch backend sends, as pure functions (pinned by unit tests).

Indices (prefix "cyberlab" by default):
- <prefix>-objects: one document per object version, _id "collection|id|version" (re-indexing
  is idempotent), routed by collection. date_added is a `long` of the store's microseconds: keyset
  paging resumes at exactly the value the store assigned (a date_nanos sort value comes back as
  nanoseconds but search_after reads a number as milliseconds, which broke every page after the
  first), and a range over a long takes any legal TAXII time (2999-01-01 is no error).
  Routing by collection puts each collection on one shard, so what a poller can see of it is
  always a prefix of its date_added order (shards refresh independently; one collection never
  spans two), and a TAXII page asks one shard.
- <prefix>-search: the latest version of each object, _id "collection|id": what analysts search.
- <prefix>-meta: statuses, cursors, accounts, dead letters, ingest totals, the write lease, the clock.

No request pages with from/size: every internal walk uses search_after (WALK hits at a time), and
no single request asks for more than WINDOW hits (Elasticsearch's index.max_result_window).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any

from indexer.search.model import SearchQuery
from indexer.search.values import reverse_domain
from indexer.store.base import Keyset, ObjectQuery
from indexer.timestamps import format_timestamp

# Version 2: date_added as long micros, routing by collection, free text as t_* words, search
# documents carrying their object version. Version 3 (new indices): the search mapping indexes
# each text once (the t_* words), without norms, and indexes or keeps doc values only where a query
# reads them. Every request reads only fields both versions index, so a version 2 store is served
# as it is; an index with another version must be reindexed.
MAPPING_VERSION = 3
READABLE_VERSIONS = (2, 3)
# Object documents are read back whole: filtering _source makes the node parse and write again
# every hit's JSON (body included), which cost a TAXII page more than the few fields left out
# (collection, owner, flags) weigh.
OBJECT_SOURCE = True
TOTAL_CAP = 10_000
WINDOW = 10_000  # index.max_result_window: from + size may never exceed it
WALK = 5_000  # hits per search_after step of an internal walk
MAX_LONG = 2**63 - 1  # the range of a long
MAX_MICROS = MAX_LONG
_KEYWORD = {"type": "keyword"}
# Search keywords come from what partners send: a value past Lucene's term limit (32 KB) would get
# the whole document rejected; past IGNORE_ABOVE characters it is kept but not indexed as a term.
IGNORE_ABOVE = 8191
_LONG_KEYWORD = {"type": "keyword", "ignore_above": IGNORE_ABOVE}
# Free text is split into words here, not by an Elasticsearch analyzer (a node need not have the
# analysis-common module): like the embedded store's FTS5 unicode61 tokenizer, a word is a run of
# letters and digits, lowercased, accents removed, so "evil" finds evil.example.com and
# "198.51.100.7" is the phrase 198 51 100 7. The search document carries the words in t_* fields
# (indexed with the built-in standard analyzer, left out of _source); the originals stay as they were.
TEXT_SOURCES = {"value": "t_value", "name": "t_name", "description": "t_description", "pattern": "t_pattern"}
TEXT_FIELDS = ["t_value^4", "t_name^2", "t_description", "t_pattern", "t_labels"]
_WORD = re.compile(r"[^\W_]+")
# No norms: the texts are short (a value, a name, the first 20,000 characters of a description),
# so length normalization barely moves a score, and norms cost the node a write per field.
# Positions stay (the default): every plain-text word is a phrase.
_WORDS = {"type": "text", "analyzer": "standard", "norms": False}


# How the search index's dates are sent: epoch milliseconds, or RFC 3339 before 1970, because
# Elasticsearch 7 refuses the epoch milliseconds -999 to -1 (a sighting at 1969-12-31T23:59:59.5Z
# was refused per object, and a search from such a time was an error).
DATE_FORMAT = "strict_date_optional_time||epoch_millis"


def es_date(micros: int) -> int | str:
    """A time (store microseconds) as a `date` field or a range over one takes it."""
    return micros // 1000 if micros >= 0 else format_timestamp(micros)


def words(text: str) -> str:
    """The words of a text, lowercased and without accents, separated by spaces."""
    if text.isascii():  # most texts: NFKD changes nothing and nothing is a combining mark
        return " ".join(_WORD.findall(text.lower()))
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(_WORD.findall(plain.lower()))


_STORED_ONLY = {"type": "keyword", "index": False, "doc_values": False}
# Search-index fields a query filters on but never sorts or aggregates on: no doc values.
_FILTER_KEYWORD = {**_LONG_KEYWORD, "doc_values": False}
_UNINDEXED_LONG = {"type": "long", "index": False, "doc_values": False}
# Sorted on only (doc values), never searched: no terms.
_SORT_KEYWORD = {"type": "keyword", "ignore_above": 1024, "index": False}


# The read scope of an object version (ObjectQuery.max_tlp_rank, owner). initialize() also puts
# them into an objects index an earlier build of this mapping version created without them.
OBJECT_SCOPE_FIELDS: dict[str, Any] = {"tlp_rank": {"type": "byte"}, "owner": _KEYWORD}


def scope_filters(query: ObjectQuery) -> list[dict[str, Any]]:
    """The caller's scope (ObjectQuery.max_tlp_rank, owner): a document without tlp_rank is unmarked."""
    filters: list[dict[str, Any]] = []
    if query.max_tlp_rank is not None:
        filters.append(tlp_at_most(query.max_tlp_rank))
    if query.owner is not None:
        filters.append({"term": {"owner": query.owner}})
    return filters


def tlp_at_most(rank: int) -> dict[str, Any]:
    return {
        "bool": {
            "should": [
                {"range": {"tlp_rank": {"lte": rank}}},
                {"bool": {"must_not": {"exists": {"field": "tlp_rank"}}}},
            ],
            "minimum_should_match": 1,
        }
    }


def index_names(prefix: str) -> dict[str, str]:
    return {"objects": f"{prefix}-objects", "search": f"{prefix}-search", "meta": f"{prefix}-meta"}


def templates(
    prefix: str, shards: int = 1, replicas: int = 0, refresh_interval: str = "1s"
) -> dict[str, dict[str, Any]]:
    """Index templates (legacy _template API: ES 7.0+ and 8.x in compatibility mode)."""
    names = index_names(prefix)
    # Objects and search documents become visible only at the one refresh each write makes
    # (inside the lease): never part of a batch, so bulk chunks may go in parallel.
    settings = {"number_of_shards": shards, "number_of_replicas": replicas, "refresh_interval": "-1"}
    meta_settings = {**settings, "refresh_interval": refresh_interval}
    meta_of = {"cyberlab_mapping": MAPPING_VERSION}
    objects = {
        "dynamic": "strict",
        "_meta": meta_of,
        "_routing": {"required": True},
        "properties": {
            "collection": _KEYWORD,
            "id": _KEYWORD,
            "type": _KEYWORD,
            "version": {"type": "long"},
            "version_text": _KEYWORD,
            "spec_version": _KEYWORD,
            "date_added": {"type": "long"},
            "is_first": {"type": "boolean"},
            "is_last": {"type": "boolean"},
            "body": _STORED_ONLY,
            **OBJECT_SCOPE_FIELDS,
        },
    }
    # What reads each search field (elastic.py, the queries below): filters on collection, id,
    # value_keys, domain_revs, ip_ranges, revoked, source_ref, target_ref, tlp_rank and the dates;
    # aggregations on type, sources, labels, tlp, sighting_of_ref, observer, count and last_seen;
    # sorts on last_seen, first_seen, sightings, value.raw and doc_key; free text on the t_* words.
    # Hits are built from _source (es_hit, sightings_of, related, _names, search_docs_of, _stale):
    # what none of them reads is left out of it.
    search = {
        "dynamic": "strict",
        "_meta": meta_of,
        "_source": {"excludes": ["t_*", "value", "value_keys", "ip_ranges", "domain_revs"]},
        "properties": {
            "doc_key": _KEYWORD,
            "collection": _FILTER_KEYWORD,
            "id": _FILTER_KEYWORD,
            "type": _LONG_KEYWORD,
            "version": _UNINDEXED_LONG,  # read back from _source only (_stale, _recounted)
            # The values joined: only sorted on (sort=value); searched as t_value.
            "value": {**_STORED_ONLY, "fields": {"raw": _SORT_KEYWORD}},
            "values": {"type": "object", "enabled": False},
            "value_keys": _FILTER_KEYWORD,
            "ip_ranges": {"type": "ip_range", "doc_values": False},
            "domain_revs": _FILTER_KEYWORD,
            "name": _STORED_ONLY,  # shown; searched as t_name
            "description": _STORED_ONLY,  # shown; searched as t_description
            "labels": _LONG_KEYWORD,
            **{field: _WORDS for field in (*TEXT_SOURCES.values(), "t_labels")},
            "sources": _LONG_KEYWORD,
            "tlp": _LONG_KEYWORD,
            "tlp_rank": {"type": "byte"},
            "first_seen": {"type": "date"},
            "last_seen": {"type": "date"},
            "valid_from": {"type": "date"},
            "valid_until": {"type": "date"},
            "revoked": {"type": "boolean", "doc_values": False},
            "sightings": {"type": "long"},
            "organizations": _UNINDEXED_LONG,
            "sighting_of_ref": _LONG_KEYWORD,
            "observer": _LONG_KEYWORD,
            "count": {"type": "long"},
            "source_ref": _FILTER_KEYWORD,
            "target_ref": _FILTER_KEYWORD,
            "relationship_type": _STORED_ONLY,
            "date_added": _UNINDEXED_LONG,
        },
    }
    meta = {
        "dynamic": False,
        "_meta": meta_of,
        "properties": {"kind": _KEYWORD, "key": _KEYWORD, "doc_id": _KEYWORD, "letter_id": {"type": "long"}},
    }
    # Segments kept in TAXII order: a page (TAXII_SORT, no total) stops after its hits in each
    # segment instead of sorting every version of the collection. A creation-time setting: an
    # index made without it is served the same, only slower.
    objects_settings = {**settings, "sort.field": ["date_added", "id", "version"], "sort.order": ["asc"] * 3}
    return {
        f"{prefix}-objects": {
            "index_patterns": [names["objects"]],
            "settings": objects_settings,
            "mappings": objects,
        },
        f"{prefix}-search": {"index_patterns": [names["search"]], "settings": settings, "mappings": search},
        f"{prefix}-meta": {"index_patterns": [names["meta"]], "settings": meta_settings, "mappings": meta},
    }


def clamp(micros: int) -> int:
    """A time as the long field holds it: any int the caller parsed stays inside the field's range."""
    return max(-MAX_MICROS, min(MAX_MICROS, micros))


def object_doc_id(collection: str, object_id: str, version: int) -> str:
    return f"{collection}|{object_id}|{version}"


def object_filters(query: ObjectQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [{"term": {"collection": query.collection}}]
    if query.ids:
        filters.append({"terms": {"id": list(query.ids)}})
    if query.types:
        filters.append({"terms": {"type": list(query.types)}})
    if "all" not in query.versions:
        options: list[dict[str, Any]] = []
        if "last" in query.versions:
            options.append({"term": {"is_last": True}})
        if "first" in query.versions:
            options.append({"term": {"is_first": True}})
        stamps = [v for v in query.versions if isinstance(v, int)]
        if stamps:
            options.append({"terms": {"version": stamps}})
        filters.append({"bool": {"should": options, "minimum_should_match": 1}})
    if query.spec_versions:
        filters.append({"terms": {"spec_version": list(query.spec_versions)}})
    if query.added_after is not None:
        filters.append({"range": {"date_added": {"gt": clamp(query.added_after)}}})
    filters.extend(scope_filters(query))  # the caller's read scope (max TLP rank, owner)
    return filters


TAXII_SORT = [{"date_added": "asc"}, {"id": "asc"}, {"version": "asc"}]


def taxii_page(query: ObjectQuery, size: int | None = None, after: Keyset | None = None) -> dict[str, Any]:
    """One TAXII objects/manifest page: a single search request, keyset-paged with search_after.

    size: hits to ask for (limit + 1 tells whether there is more), at most WINDOW."""
    body: dict[str, Any] = {
        "size": min(WINDOW, query.limit + 1 if size is None else size),
        "track_total_hits": False,
        "_source": OBJECT_SOURCE,
        "query": {"bool": {"filter": object_filters(query)}},
        "sort": TAXII_SORT,
    }
    position = after if after is not None else query.after
    if position is not None:
        body["search_after"] = [position.date_added, position.id, position.version]
        # Also as a range: search_after alone still visits every earlier document of each
        # segment to compare it with the position; the range skips them through the points
        # index (at 110k, 95% of the way in: 1.3-1.5 ms a page in the node instead of 2.9-3.1).
        body["query"]["bool"]["filter"].append({"range": {"date_added": {"gte": position.date_added}}})
    return body


def versions_of(collection: str, ids: list[str]) -> dict[str, Any]:
    """The walk (search_after) over every stored version of `ids`: what a batch or a delete needs."""
    return {
        "size": WALK,
        "track_total_hits": False,
        "_source": OBJECT_SOURCE,
        "query": {"bool": {"filter": [{"term": {"collection": collection}}, {"terms": {"id": ids}}]}},
        "sort": [{"id": "asc"}, {"version": "asc"}],
    }


def search_docs_of(ids: list[str], leave_out: list[str]) -> dict[str, Any]:
    """The walk over the search documents of `ids` in every collection, but those in `leave_out`."""
    query: dict[str, Any] = {"filter": [{"terms": {"id": ids}}]}
    if leave_out:
        query["must_not"] = [{"terms": {"doc_key": leave_out}}]
    return {
        "size": WALK,
        "track_total_hits": False,
        # What indexing one again whole takes (ElasticStore._recounted), and its counts.
        "_source": ["doc_key", "collection", "id", "version", "date_added", "sightings", "organizations"],
        "query": {"bool": query},
        "sort": [{"doc_key": "asc"}],
    }


def text_query(text: str, advanced: bool) -> dict[str, Any]:
    """Plain text reads no syntax: every whitespace-separated word is a phrase that must occur in
    some text field ("OR", "*", quotes and colons are just text, as in the embedded store);
    a text of no word at all matches nothing."""
    if advanced:
        return {"query_string": {"query": text, "fields": TEXT_FIELDS}}
    phrases = [
        {"multi_match": {"query": words(w), "type": "phrase", "fields": TEXT_FIELDS}}
        for w in text.split()
        if words(w)
    ]
    if not phrases:
        return {"match_none": {}}
    return phrases[0] if len(phrases) == 1 else {"bool": {"must": phrases}}


def search(query: SearchQuery) -> dict[str, Any]:
    """The analysts' search: one request; facets as aggregations in the same request."""
    filters = search_filters(query)
    must = [text_query(query.text, query.advanced)] if query.text else []
    sort_field = "_score" if query.sort == "relevance" and query.text else _sort_field(query.sort)
    order = "desc" if query.sort.startswith("-") or sort_field == "_score" else "asc"
    body: dict[str, Any] = {
        "size": query.limit + 1,
        "track_total_hits": TOTAL_CAP + 1,
        "query": {"bool": {"filter": filters, **({"must": must} if must else {})}},
        "sort": [{sort_field: order}, {"doc_key": "asc"}],
    }
    if query.after is not None:
        body["search_after"] = list(query.after)
    if query.facets:
        body["aggs"] = {
            "type": {"terms": {"field": "type", "size": 50}},
            "source": {"terms": {"field": "sources", "size": 50}},
            "label": {"terms": {"field": "labels", "size": 50}},
            "tlp": {"terms": {"field": "tlp", "size": 10, "missing": "none"}},
        }
    return body


def _sort_field(sort: str) -> str:
    name = sort.lstrip("-")
    if name == "relevance":
        return "last_seen"
    return "value.raw" if name == "value" else name


def search_filters(query: SearchQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [
        {"terms": {"collection": list(query.collections)}},
        {"bool": {"must_not": [{"term": {"type": "relationship"}}]}},  # pivots read these, not searches
    ]
    if query.max_tlp < 4:
        filters.append(tlp_at_most(query.max_tlp))
    for field, values in (
        ("id", query.ids),
        ("type", query.types),
        ("sources", query.sources),
        ("labels", query.labels),
        ("tlp", query.tlp),
    ):
        if values:
            filters.append({"terms": {field: list(values)}})
    if query.values:
        filters.append({"terms": {"value_keys": [v.strip().lower() for v in query.values]}})
    if query.cidr:
        try:
            network = ipaddress.ip_network(query.cidr.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{query.cidr!r} is not an IP address or CIDR block") from None
        bounds = {"gte": str(network.network_address), "lte": str(network.broadcast_address)}
        filters.append({"range": {"ip_ranges": {**bounds, "relation": "within"}}})
    if query.domain:
        rev = reverse_domain(query.domain)
        filters.append(
            {
                "bool": {
                    "should": [{"term": {"domain_revs": rev}}, {"prefix": {"domain_revs": rev + "."}}],
                    "minimum_should_match": 1,
                }
            }
        )
    for field, op, value in (
        ("first_seen", "gte", query.first_seen_after),
        ("first_seen", "lte", query.first_seen_before),
        ("last_seen", "gte", query.last_seen_after),
        ("last_seen", "lte", query.last_seen_before),
    ):
        if value is not None:
            filters.append({"range": {field: {op: es_date(value), "format": DATE_FORMAT}}})
    if query.valid_at is not None:
        at = es_date(query.valid_at)
        filters.append({"range": {"first_seen": {"lte": at, "format": DATE_FORMAT}}})
        filters.append(
            {
                "bool": {
                    "should": [
                        {"range": {"valid_until": {"gt": at, "format": DATE_FORMAT}}},
                        {"bool": {"must_not": {"exists": {"field": "valid_until"}}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    if query.min_sightings is not None:
        filters.append({"range": {"sightings": {"gte": query.min_sightings}}})
    if query.revoked is not None:
        filters.append({"term": {"revoked": query.revoked}})
    return filters


MAX_OBSERVERS = 10_000  # distinct organizations counted per sighted object


def sighting_counts(object_ids: list[str], leave_out: list[str]) -> dict[str, Any]:
    """Sightings and their observers per sighted object, for the objects a write touched, leaving
    out the sighting documents the write replaces (`leave_out`: doc_keys): the write adds its own."""
    query: dict[str, Any] = {
        "filter": [{"term": {"type": "sighting"}}, {"terms": {"sighting_of_ref": object_ids}}]
    }
    if leave_out:
        query["must_not"] = [{"terms": {"doc_key": leave_out}}]
    return {
        "size": 0,
        "query": {"bool": query},
        "aggs": {
            "of": {
                "terms": {"field": "sighting_of_ref", "size": len(object_ids)},
                "aggs": {
                    "count": {"sum": {"field": "count"}},
                    "observers": {"terms": {"field": "observer", "size": MAX_OBSERVERS}},
                },
            }
        },
    }


def sightings_histogram(object_ids: list[str], collections: list[str], since_millis: int) -> dict[str, Any]:
    return {
        "size": 0,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"type": "sighting"}},
                    {"terms": {"collection": collections}},
                    {"terms": {"sighting_of_ref": object_ids}},
                    {"range": {"last_seen": {"gte": since_millis, "format": "epoch_millis"}}},
                ]
            }
        },
        "aggs": {
            "days": {
                "date_histogram": {"field": "last_seen", "calendar_interval": "day", "min_doc_count": 1},
                "aggs": {"count": {"sum": {"field": "count"}}},
            }
        },
    }
