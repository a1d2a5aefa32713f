"""What a caller may know about indicators: search hits as readers see them, and one object's
detail (its versions, sightings and relations) put together from several store queries.

Plain functions over the store, the settings and the Caller, all passed in; they return values.
The JSON API renders them with `as_json()`, the web pages with their templates, so both say the
same thing and apply the same rules (the analyst-only partner names among them).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import orjson

from config import Settings
from cyberlab.auth.access import read_scope, readable_collections
from cyberlab.auth.caller import Caller
from cyberlab.auth.clearance import max_tlp_rank, tlp_clearance
from indexer.search.model import Hit, SearchQuery
from indexer.store.base import ObjectQuery, Store
from indexer.timestamps import format_timestamp

# Who may see which organizations reported a sighting (everyone else sees the counts).
NAMES_OF_REPORTERS = ("analyst", "admin")


def stamp(micros: int | None) -> str | None:
    """RFC 3339, as short as the instant allows (2026-03-01T00:00:00Z, ...00.250Z)."""
    if not micros:
        return None
    text = format_timestamp(micros)  # ...SS.ffffffZ
    if micros % 1_000_000 == 0:
        return text[:19] + "Z"
    return text[:23] + "Z" if micros % 1000 == 0 else text


@dataclass(frozen=True)
class HitView:
    """One search hit as readers see it: collection by alias, times in RFC 3339."""

    id: str
    type: str
    collection: str
    values: list[dict[str, str]]
    name: str | None
    description: str | None
    labels: list[str]
    sources: list[str]
    tlp: str | None
    first_seen: str | None
    last_seen: str | None
    valid_until: str | None
    revoked: bool
    sightings: int
    organizations: int

    def as_json(self) -> dict[str, Any]:
        # The fields in their declared order, then the link (the API's documented key order);
        # shallow, unlike dataclasses.asdict, since a search page renders many hits.
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**body, "links": {"self": f"/api/v1/indicators/{self.id}"}}


def hit_view(hit: Hit, settings: Settings) -> HitView:
    coll = settings.collection(hit.collection)
    return HitView(
        id=hit.id,
        type=hit.type,
        collection=coll.alias if coll else hit.collection,
        values=hit.values,
        name=hit.name,
        description=hit.description,
        labels=hit.labels,
        sources=hit.sources,
        tlp=hit.tlp,
        first_seen=stamp(hit.first_seen),
        last_seen=stamp(hit.last_seen),
        valid_until=stamp(hit.valid_until),
        revoked=hit.revoked,
        sightings=hit.sightings,
        organizations=hit.organizations,
    )


def visible_copies(store: Store, settings: Settings, caller: Caller, object_id: str) -> list[Hit]:
    """The latest version of one id in each collection holding it, as far as the caller may see
    it: a collection it may read, a TLP its clearance covers, and (where it reads only its own
    objects) its own. What the pivot shows and what a sighting upload may refer to."""
    readable = readable_collections(caller, settings.collections.values())
    if not readable or len(object_id) > 200:
        return []
    query = SearchQuery(
        collections=tuple(c.id for c in readable), max_tlp=tlp_clearance(caller), ids=(object_id,)
    )
    visible = []
    for hit in store.search(query).hits:
        collection = settings.collection(hit.collection)
        if collection is None:
            continue
        scope = read_scope(caller, collection, settings.sightings_collection)
        if scope.owner is None or store.object_owner(collection.id, object_id) == scope.owner:
            visible.append(hit)
    return visible


@dataclass(frozen=True)
class ReporterSightings:
    """One organization's sightings of the indicator (analysts and admins only)."""

    sighting_id: str
    organization: str | None
    count: int
    first_seen: str | None
    last_seen: str | None


@dataclass(frozen=True)
class SightingsSummary:
    organizations: int
    count: int
    first_seen: str | None
    last_seen: str | None
    by_organization: list[ReporterSightings] | None  # None: not the caller's to see

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "organizations": self.organizations,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }
        if self.by_organization is not None:
            body["by_organization"] = [vars(s) for s in self.by_organization]
        return body


@dataclass(frozen=True)
class RelatedObject:
    relationship_id: str
    relationship_type: str
    direction: str  # "outgoing" (the indicator is the source) or "incoming"
    id: str
    type: str
    name: str | None


@dataclass(frozen=True)
class IndicatorDetail:
    object: dict[str, Any] | None  # the latest version the caller may see
    summary: HitView
    collections: list[str]  # aliases, the most authoritative first
    versions: list[dict[str, Any]]  # oldest first
    sightings: SightingsSummary
    related: list[RelatedObject]

    def as_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "summary": self.summary.as_json(),
            "collections": self.collections,
            "versions": self.versions,
            "sightings": self.sightings.as_json(),
            "related": [vars(r) for r in self.related],
        }


def _authority(settings: Settings, collection_id: str) -> tuple[int, int]:
    """Which copy of an object the pivot shows: a collection partners cannot write (the city's
    own) before one they can, then the configured order."""
    ordered = list(settings.collections.values())
    for n, coll in enumerate(ordered):
        if coll.id == collection_id:
            return ("partner" in coll.write_roles, n)
    return (True, len(ordered))


def indicator_detail(
    store: Store, settings: Settings, caller: Caller, object_id: str
) -> IndicatorDetail | None:
    """Everything the caller may know about one object, or None when it may see none of it.

    One collection answers: the most authoritative one holding a copy the caller may see
    (_authority). Versions are never merged across collections, so a newer version someone
    posted elsewhere under the same id never passes for the object. Every version, sighting and
    related object shown is one the caller's scope (cyberlab.auth.access.read_scope) covers.
    """
    found = visible_copies(store, settings, caller, object_id)
    if not found:
        return None
    home = min(found, key=lambda h: _authority(settings, h.collection))
    collection = settings.collection(home.collection)
    assert collection is not None  # visible_copies only returns configured collections
    scope = read_scope(caller, collection, settings.sightings_collection)
    page = store.query(
        ObjectQuery(
            collection.id,
            ids=(object_id,),
            versions=("all",),
            limit=1000,
            max_tlp_rank=scope.max_tlp_rank,
            owner=scope.owner,
        )
    )
    ordered = [orjson.loads(o.body) for o in sorted(page.objects, key=lambda o: o.version)]
    readable = readable_collections(caller, settings.collections.values())
    return IndicatorDetail(
        object=ordered[-1] if ordered else None,
        summary=hit_view(home, settings),
        collections=[
            hit_view(h, settings).collection
            for h in sorted(found, key=lambda h: _authority(settings, h.collection))
        ],
        versions=ordered,
        sightings=_sightings(store, settings, caller, object_id, tuple(c.id for c in readable)),
        related=_related(store, settings, caller, object_id),
    )


def _sightings(
    store: Store, settings: Settings, caller: Caller, object_id: str, readable: tuple[str, ...]
) -> SightingsSummary:
    # Counts are shared with everyone who may see the indicator ("seen by 4 organizations"),
    # whichever collection holds the sightings; who they were is for analysts only.
    everywhere = tuple(c.id for c in settings.collections.values())
    sightings = store.sightings_of(object_id, everywhere)
    by_organization = None
    if caller.role in NAMES_OF_REPORTERS:
        by_organization = [
            ReporterSightings(
                sighting_id=s.id,
                organization=s.observer_name or s.observer,
                count=s.count,
                first_seen=stamp(s.first_seen),
                last_seen=stamp(s.last_seen),
            )
            for s in store.sightings_of(object_id, readable, max_tlp_rank(caller))
        ]
    return SightingsSummary(
        organizations=len({s.observer for s in sightings}),
        count=sum(s.count for s in sightings),
        first_seen=stamp(min((s.first_seen for s in sightings if s.first_seen), default=None)),
        last_seen=stamp(max((s.last_seen for s in sightings if s.last_seen), default=None)),
        by_organization=by_organization,
    )


def _related(store: Store, settings: Settings, caller: Caller, object_id: str) -> list[RelatedObject]:
    # Relationships from collections where the caller reads everything (in one where it reads
    # only its own, another account's relationship is not its to see).
    open_collections = tuple(
        c.id
        for c in readable_collections(caller, settings.collections.values())
        if read_scope(caller, c, settings.sightings_collection).owner is None
    )
    if not open_collections:
        return []
    return [
        RelatedObject(
            relationship_id=r.relationship_id,
            relationship_type=r.relationship_type,
            direction=r.direction,
            id=r.other_id,
            type=r.other_type,
            name=r.other_name,
        )
        for r in store.related(object_id, open_collections, max_tlp_rank(caller))
    ]
