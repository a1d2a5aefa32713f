"""Every request body the Elasticsearch backend sends, as pure functions (pinned by unit tests).

Indices (prefix "cyberlab" by default):
- <prefix>-objects: one document per object version, _id "collection|id|version" (re-indexing
  is idempotent). date_added is date_nanos holding the store's microsecond stamp, so keyset paging
  resumes at exactly the value the store assigned.
- <prefix>-search: the latest version of each object, _id "collection|id": what analysts search.
- <prefix>-meta: statuses, cursors, accounts, dead letters, ingest totals, the write lease.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from indexer.search.model import SearchQuery
from indexer.search.values import reverse_domain
from indexer.store.base import ObjectQuery
from indexer.timestamps import format_timestamp

OBJECT_SOURCE = ["id", "type", "version", "version_text", "spec_version", "date_added", "body"]
TEXT_FIELDS = ["value^4", "name^2", "description", "pattern", "labels"]
TOTAL_CAP = 10_000
_KEYWORD = {"type": "keyword"}
_TEXT_AND_KEYWORD = {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 1024}}}
_STORED_ONLY = {"type": "keyword", "index": False, "doc_values": False}


# Added after the first release: initialize() puts them into an existing objects index too.
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


def templates(prefix: str) -> dict[str, dict[str, Any]]:
    """Index templates (legacy _template API: ES 7.0+ and 8.x in compatibility mode)."""
    names = index_names(prefix)
    settings = {"number_of_shards": 1, "refresh_interval": "1s"}
    objects = {
        "dynamic": "strict",
        "properties": {
            "collection": _KEYWORD,
            "id": _KEYWORD,
            "type": _KEYWORD,
            "version": {"type": "long"},
            "version_text": _KEYWORD,
            "modified": {"type": "date_nanos"},
            "spec_version": _KEYWORD,
            "date_added": {"type": "date_nanos"},
            "is_first": {"type": "boolean"},
            "is_last": {"type": "boolean"},
            "body": _STORED_ONLY,
            **OBJECT_SCOPE_FIELDS,
        },
    }
    search = {
        "dynamic": "strict",
        "properties": {
            "doc_key": _KEYWORD,
            "collection": _KEYWORD,
            "id": _KEYWORD,
            "type": _KEYWORD,
            "value": _TEXT_AND_KEYWORD,
            "values": {"type": "object", "enabled": False},
            "value_keys": _KEYWORD,
            "ip_ranges": {"type": "ip_range"},
            "domain_revs": _KEYWORD,
            "name": _TEXT_AND_KEYWORD,
            "description": _TEXT_AND_KEYWORD,
            "pattern": _TEXT_AND_KEYWORD,
            "labels": _KEYWORD,
            "sources": _KEYWORD,
            "tlp": _KEYWORD,
            "tlp_rank": {"type": "byte"},
            "created_by": _KEYWORD,
            "first_seen": {"type": "date"},
            "last_seen": {"type": "date"},
            "valid_from": {"type": "date"},
            "valid_until": {"type": "date"},
            "revoked": {"type": "boolean"},
            "sightings": {"type": "long"},
            "organizations": {"type": "long"},
            "sighting_of_ref": _KEYWORD,
            "observer": _KEYWORD,
            "count": {"type": "long"},
            "source_ref": _KEYWORD,
            "target_ref": _KEYWORD,
            "relationship_type": _KEYWORD,
            "date_added": {"type": "date_nanos"},
        },
    }
    meta = {
        "dynamic": False,
        "properties": {"kind": _KEYWORD, "key": _KEYWORD, "letter_id": {"type": "long"}},
    }
    return {
        f"{prefix}-objects": {
            "index_patterns": [names["objects"]],
            "settings": settings,
            "mappings": objects,
        },
        f"{prefix}-search": {"index_patterns": [names["search"]], "settings": settings, "mappings": search},
        f"{prefix}-meta": {"index_patterns": [names["meta"]], "settings": settings, "mappings": meta},
    }


def nanos(micros: int) -> str:
    """A date_nanos value: RFC 3339 with the store's microseconds."""
    return format_timestamp(micros)


def object_doc_id(collection: str, object_id: str, version: int) -> str:
    return f"{collection}|{object_id}|{version}"


def taxii_page(query: ObjectQuery) -> dict[str, Any]:
    """One TAXII objects/manifest page: a single search request, keyset-paged with search_after."""
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
        filters.append({"range": {"date_added": {"gt": nanos(query.added_after)}}})
    filters.extend(scope_filters(query))
    body: dict[str, Any] = {
        "size": query.limit + 1,
        "track_total_hits": False,
        "_source": OBJECT_SOURCE,
        "query": {"bool": {"filter": filters}},
        "sort": [{"date_added": "asc"}, {"id": "asc"}, {"version": "asc"}],
    }
    if query.after is not None:
        body["search_after"] = [query.after.date_added * 1000, query.after.id, query.after.version]
    return body


def existing_versions(collection: str, ids: list[str]) -> dict[str, Any]:
    """What a batch needs to know before writing: the stored versions of its ids."""
    return {
        "size": 10_000,
        "track_total_hits": False,
        "_source": ["id", "version", "body", "is_first", "is_last", "owner"],
        "query": {"bool": {"filter": [{"term": {"collection": collection}}, {"terms": {"id": ids}}]}},
    }


def search(query: SearchQuery) -> dict[str, Any]:
    """The analysts' search: one request; facets as aggregations in the same request."""
    filters = search_filters(query)
    must: list[dict[str, Any]] = []
    if query.text:
        if query.advanced:
            must.append({"query_string": {"query": query.text, "fields": TEXT_FIELDS}})
        else:  # multi_match reads no syntax: "OR", "*", quotes and colons are just text
            must.append({"multi_match": {"query": query.text, "fields": TEXT_FIELDS, "operator": "and"}})
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
        filters.append(
            {
                "bool": {
                    "should": [
                        {"range": {"tlp_rank": {"lte": query.max_tlp}}},
                        {"bool": {"must_not": {"exists": {"field": "tlp_rank"}}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
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
            filters.append({"range": {field: {op: value // 1000, "format": "epoch_millis"}}})
    if query.valid_at is not None:
        at = query.valid_at // 1000
        filters.append({"range": {"first_seen": {"lte": at, "format": "epoch_millis"}}})
        filters.append(
            {
                "bool": {
                    "should": [
                        {"range": {"valid_until": {"gt": at, "format": "epoch_millis"}}},
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


def sighting_counts(object_ids: list[str]) -> dict[str, Any]:
    """Sightings and distinct organizations per sighted object, for the objects a batch touched."""
    return {
        "size": 0,
        "query": {
            "bool": {"filter": [{"term": {"type": "sighting"}}, {"terms": {"sighting_of_ref": object_ids}}]}
        },
        "aggs": {
            "of": {
                "terms": {"field": "sighting_of_ref", "size": len(object_ids)},
                "aggs": {
                    "count": {"sum": {"field": "count"}},
                    "orgs": {"cardinality": {"field": "observer"}},
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
