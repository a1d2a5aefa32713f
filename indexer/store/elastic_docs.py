"""What the Elasticsearch backend indexes for search, and how a search hit reads back."""

from __future__ import annotations

from typing import Any

from indexer.search.docs import relationship_ends, search_doc, sighting_doc, tlp_rank_of
from indexer.search.model import Hit
from indexer.store import elastic_queries as q
from indexer.timestamps import parse_timestamp
from indexer.tlp import effective_tlp_rank


def search_source(
    collection: str, body: dict[str, Any], date_added: int, version: int | None = None
) -> dict[str, Any] | None:
    """The search-index document for an object's latest version (None for marking definitions).

    version: the store's version of it, kept so a re-sent batch can tell a stale document."""
    if body.get("type") == "marking-definition":
        return None
    source: dict[str, Any] = {
        "doc_key": f"{collection}|{body['id']}",
        "collection": collection,
        "id": body["id"],
        "type": body["type"],
        "date_added": date_added,
    }
    if version is not None:
        source["version"] = version
    ends = relationship_ends(body)
    if ends is not None:
        # The pivot's related() filters relationships by their own TLP too.
        rank = effective_tlp_rank(body)
        source.update(source_ref=ends[0], relationship_type=ends[1], target_ref=ends[2], tlp_rank=rank)
        return source
    doc = search_doc(collection, body, date_added)
    ranges = [
        v.value if "/" in v.value else v.value + ("/128" if ":" in v.value else "/32")
        for v in doc.values
        if v.kind in ("ip", "cidr") and v.ip_range is not None
    ]
    source.update(
        value=" ".join(v.value for v in doc.values),
        values=[{"kind": v.kind, "value": v.value} for v in doc.values],
        value_keys=[v.key for v in doc.values],
        ip_ranges=ranges,
        domain_revs=[r for r in (v.domain_rev for v in doc.values) if r],
        name=doc.name,
        description=doc.description,
        labels=doc.labels,
        sources=doc.sources,
        tlp=doc.tlp,
        tlp_rank=tlp_rank_of(doc),
        first_seen=q.es_date(doc.first_seen) if doc.first_seen is not None else None,
        last_seen=q.es_date(doc.last_seen) if doc.last_seen is not None else None,
        valid_until=q.es_date(doc.valid_until) if doc.valid_until is not None else None,
        revoked=doc.revoked,
        sightings=0,
        organizations=0,
    )
    # The pattern (and who created it) no query reads but as words: not sent at all (mapping
    # version 2 maps them, version 3 does not; a document without them fits both).
    texts = {
        "value": source["value"],
        "name": doc.name,
        "description": doc.description,
        "pattern": doc.pattern,
    }
    for field, text_field in q.TEXT_SOURCES.items():
        if texts[field]:
            source[text_field] = q.words(texts[field])
    if doc.labels:
        source["t_labels"] = q.words(" ".join(doc.labels))
    sighting = sighting_doc(collection, body)
    if sighting is not None:
        source.update(sighting_of_ref=sighting.indicator_id, observer=sighting.observer, count=sighting.count)
    return source


def millis_to_micros(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_timestamp(value)
    return int(value) * 1000


def es_hit(hit: dict[str, Any]) -> Hit:
    s = hit["_source"]
    return Hit(
        collection=s["collection"],
        id=s["id"],
        type=s["type"],
        values=s.get("values", []),
        name=s.get("name"),
        description=s.get("description"),
        labels=s.get("labels", []),
        sources=s.get("sources", []),
        tlp=s.get("tlp"),
        first_seen=millis_to_micros(s.get("first_seen")),
        last_seen=millis_to_micros(s.get("last_seen")),
        valid_until=millis_to_micros(s.get("valid_until")),
        revoked=bool(s.get("revoked")),
        sightings=int(s.get("sightings", 0)),
        organizations=int(s.get("organizations", 0)),
        position=tuple(hit["sort"]),
    )
