"""What one stored object contributes to the search index (both backends build from this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from indexer.search.values import Value, object_values
from indexer.timestamps import parse_timestamp
from indexer.tlp import effective_tlp, tlp_rank

_MAX_TEXT = 20_000  # a 10 MB description is stored, but only its start is worth indexing


@dataclass(frozen=True)
class SearchDoc:
    collection: str
    id: str
    type: str
    values: list[Value]
    name: str | None
    description: str | None
    pattern: str | None
    labels: list[str]
    sources: list[str]
    tlp: str | None
    created_by: str | None
    first_seen: int | None
    last_seen: int | None
    valid_until: int | None
    revoked: bool
    date_added: int


@dataclass(frozen=True)
class SightingDoc:
    collection: str
    id: str
    indicator_id: str
    observer: str | None
    count: int
    first_seen: int | None
    last_seen: int | None


def _time(obj: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = obj.get(name)
        if isinstance(value, str):
            try:
                return parse_timestamp(value)
            except ValueError:
                continue
    return None


def _text(value: Any) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) else None


def search_doc(collection: str, obj: dict[str, Any], date_added: int) -> SearchDoc:
    labels = [str(label) for label in obj.get("labels", []) if isinstance(label, str)]
    sources = [
        str(ref["source_name"])
        for ref in obj.get("external_references", [])
        if isinstance(ref, dict) and isinstance(ref.get("source_name"), str)
    ]
    return SearchDoc(
        collection=collection,
        id=obj["id"],
        type=obj["type"],
        values=object_values(obj),
        name=_text(obj.get("name")),
        description=_text(obj.get("description")),
        pattern=_text(obj.get("pattern")),
        labels=labels,
        sources=sources,
        tlp=effective_tlp(obj),  # the rule TAXII reads follow too (ObjectQuery.max_tlp_rank)
        created_by=obj.get("created_by_ref") if isinstance(obj.get("created_by_ref"), str) else None,
        # Indicators: first seen = valid_from, last seen = the latest version. Sightings and
        # observed data say it themselves.
        first_seen=_time(obj, "first_seen", "first_observed", "valid_from", "created"),
        last_seen=_time(obj, "last_seen", "last_observed", "modified", "created"),
        valid_until=_time(obj, "valid_until"),
        revoked=obj.get("revoked") is True,
        date_added=date_added,
    )


def sighting_doc(collection: str, obj: dict[str, Any]) -> SightingDoc | None:
    if obj.get("type") != "sighting" or not isinstance(obj.get("sighting_of_ref"), str):
        return None
    where = obj.get("where_sighted_refs")
    observer = where[0] if isinstance(where, list) and where else obj.get("created_by_ref")
    count = obj.get("count", 1)
    return SightingDoc(
        collection=collection,
        id=obj["id"],
        indicator_id=obj["sighting_of_ref"],
        observer=observer if isinstance(observer, str) else None,
        count=count if isinstance(count, int) and count >= 0 else 1,
        first_seen=_time(obj, "first_seen", "created"),
        last_seen=_time(obj, "last_seen", "modified", "created"),
    )


def relationship_ends(obj: dict[str, Any]) -> tuple[str, str, str] | None:
    """(source, relationship type, target) of a relationship object."""
    if obj.get("type") != "relationship":
        return None
    source, target = obj.get("source_ref"), obj.get("target_ref")
    if isinstance(source, str) and isinstance(target, str):
        return source, str(obj.get("relationship_type", "related-to")), target
    return None


def tlp_rank_of(doc: SearchDoc) -> int | None:
    return tlp_rank(doc.tlp) if doc.tlp else None
