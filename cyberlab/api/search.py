"""The analysts' search API and the indicator pivot.

    GET /api/v1/search?q=...&type=...&cidr=...   (analyst role; results follow TLP and collections)
    GET /api/v1/indicators/<id>                  (anyone who may read a collection holding it)

Free text is plain words unless syntax=advanced (SQLite FTS5 or Lucene syntax by backend); a
query string is never SQL or query syntax by accident. Cursors are signed like TAXII's `next`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Any

import orjson
from flask import Blueprint, Response, request

from cyberlab.api.common import (
    bool_param,
    check_known_params,
    int_param,
    json_response,
    many,
    require_role,
    stamp,
    time_param,
    visible_copies,
)
from cyberlab.auth.access import read_scope, readable_collections
from cyberlab.auth.caller import Caller
from cyberlab.auth.clearance import max_tlp_rank, tlp_clearance
from cyberlab.errors import BadRequest, Forbidden, NotFound, Unprocessable
from cyberlab.services import services
from indexer.search.model import SORTS, Hit, SearchQuery, SearchResult, SearchSyntaxError, SearchTimeout
from indexer.store.base import ObjectQuery
from indexer.timestamps import format_timestamp, now_micros
from indexer.tlp import TLP_ORDER

bp = Blueprint("search", __name__)
SEARCH_PARAMS = (
    "q",
    "syntax",
    "type",
    "value",
    "cidr",
    "domain",
    "source",
    "label",
    "tlp",
    "collection",
    "first_seen_after",
    "first_seen_before",
    "last_seen_after",
    "last_seen_before",
    "valid_at",
    "active",
    "has_sightings",
    "min_sightings",
    "revoked",
    "sort",
    "limit",
    "next",
    "facets",
    "histogram",
)
MAX_LIMIT = 200


@bp.get("/api/v1/search")
def search() -> Response:
    caller = require_role("analyst")
    check_known_params(SEARCH_PARAMS)
    query = parse_search(tlp_clearance(caller), [c.id for c in readable_collections(caller, _collections())])
    fingerprint = request_fingerprint()
    token = request.args.get("next")
    if token:
        position = services().tokens.open_values(token, fingerprint)
        query = replace(query, after=tuple(position))
    try:
        result = services().store.search(query)
    except SearchSyntaxError as exc:
        raise BadRequest(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    except SearchTimeout as exc:
        raise too_expensive(exc) from None
    return json_response(render_result(result, fingerprint, query.histogram))


def too_expensive(exc: SearchTimeout) -> Unprocessable:
    return Unprocessable(str(exc), title="Search too expensive")


# A phrase counts once; FTS5's and Lucene's operators are not terms.
_TOKEN = re.compile(r'"[^"]*"?|[^\s()"]+')
_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR", "TO", "&&", "||", "!", "+", "-"})


def check_query_cost(text: str, advanced: bool) -> None:
    """Refuse, before any work, a query whose terms would each read a slice of the index: a
    prefix term (a*) reads the posting list of every word it starts, and an OR of hundreds of
    them held a worker for seconds."""
    limits = services().settings.search
    tokens = _TOKEN.findall(text) if advanced else text.split()
    terms = [t for t in tokens if t.upper() not in _OPERATORS and any(c.isalnum() for c in t)]
    if len(terms) > limits.max_terms:
        raise BadRequest(
            f"the query has {len(terms)} terms; at most {limits.max_terms} are allowed "
            "(search.max_terms): narrow it"
        )
    if advanced:
        prefixes = [
            t for t in terms if not t.startswith('"') and ("*" in t or "?" in t or "~" in t or t[0] == "/")
        ]
        if len(prefixes) > limits.max_prefix_terms:
            raise BadRequest(
                f"the query has {len(prefixes)} prefix or wildcard terms; at most "
                f"{limits.max_prefix_terms} are allowed (search.max_prefix_terms): narrow it"
            )


def _collections() -> list[Any]:
    return list(services().settings.collections.values())


def parse_search(max_tlp: int, readable: list[str], allow_advanced: bool = True) -> SearchQuery:
    """A SearchQuery from the request's parameters; 400 for anything malformed.

    allow_advanced=False (the web page for anyone but analysts): syntax=advanced is searched as
    plain words, since query syntax lets one short request make the index do unbounded work.
    """
    args = request.args
    syntax = args.get("syntax", "plain")
    if syntax not in ("plain", "advanced"):
        raise BadRequest("syntax must be plain or advanced")
    if not allow_advanced:
        syntax = "plain"
    sort = args.get("sort") or ("relevance" if args.get("q") else "-last_seen")
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}")
    collections = tuple(readable)
    wanted = many("collection")
    if wanted:
        chosen = []
        for name in wanted:
            coll = services().settings.collection(name)
            if coll is None:
                raise BadRequest(f"there is no collection {name!r}")
            if coll.id not in readable:
                raise Forbidden(f"your account may not read collection {name!r}")
            chosen.append(coll.id)
        collections = tuple(chosen)
    tlp = many("tlp")
    if any(level not in TLP_ORDER for level in tlp):
        raise BadRequest(f"tlp must be among {', '.join(TLP_ORDER)}")
    min_sightings = int_param("min_sightings", None, 0, 2**31)
    if bool_param("has_sightings"):
        min_sightings = max(min_sightings or 0, 1)
    valid_at = time_param("valid_at")
    revoked = bool_param("revoked")
    if bool_param("active"):
        valid_at, revoked = valid_at or now_micros(), False
    text = args.get("q", "")
    if len(text) > 1000:
        raise BadRequest("q is limited to 1000 characters")
    check_query_cost(text, syntax == "advanced")
    return SearchQuery(
        collections=collections or ("-none-",),
        max_tlp=max_tlp,
        text=text,
        advanced=syntax == "advanced",
        types=many("type"),
        values=many("value"),
        cidr=args.get("cidr") or None,
        domain=args.get("domain") or None,
        sources=many("source"),
        labels=many("label"),
        tlp=tlp,
        first_seen_after=time_param("first_seen_after"),
        first_seen_before=time_param("first_seen_before"),
        last_seen_after=time_param("last_seen_after"),
        last_seen_before=time_param("last_seen_before"),
        valid_at=valid_at,
        min_sightings=min_sightings,
        revoked=revoked,
        sort=sort,
        limit=int_param("limit", 50, 1, MAX_LIMIT) or 50,
        facets=bool(bool_param("facets")),
        histogram=bool(bool_param("histogram")),
        time_budget_ms=services().settings.search.time_budget_ms or None,
        facet_sample=services().settings.search.facet_sample_size or None,
    )


def request_fingerprint() -> str:
    """Binds a cursor to the filters it was issued for (everything but `next` itself)."""
    items = sorted((k, v) for k, v in request.args.items(multi=True) if k != "next")
    return hashlib.sha256(orjson.dumps(items)).hexdigest()[:16]


def render_hit(hit: Hit) -> dict[str, Any]:
    coll = services().settings.collection(hit.collection)
    return {
        "id": hit.id,
        "type": hit.type,
        "collection": coll.alias if coll else hit.collection,
        "values": hit.values,
        "name": hit.name,
        "description": hit.description,
        "labels": hit.labels,
        "sources": hit.sources,
        "tlp": hit.tlp,
        "first_seen": stamp(hit.first_seen),
        "last_seen": stamp(hit.last_seen),
        "valid_until": stamp(hit.valid_until),
        "revoked": hit.revoked,
        "sightings": hit.sightings,
        "organizations": hit.organizations,
        "links": {"self": f"/api/v1/indicators/{hit.id}"},
    }


def render_result(result: SearchResult, fingerprint: str, histogram: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "total": result.total,
        "total_is_exact": result.total_is_exact,
        "more": result.more,
        "results": [render_hit(h) for h in result.hits],
    }
    if result.more and result.hits:
        body["next"] = services().tokens.issue_values(list(result.hits[-1].position), fingerprint)
    if result.facets:
        body["facets"] = result.facets
        # Estimates scaled up from a sample of the matches, or exact counts: the caller must know.
        body["facets_sampled"] = bool(result.facets_sample)
        if result.facets_sample:
            body["facets_sample_size"] = result.facets_sample
    if histogram:
        body["histogram"] = [
            {"day": format_timestamp(day)[:10], "sightings": n} for day, n in result.histogram
        ]
    return body


@bp.get("/api/v1/indicators/<object_id>")
def pivot(object_id: str) -> Response:
    check_known_params(())
    caller = services().auth.caller()
    detail = indicator_detail(object_id, caller)
    if detail is None:
        raise NotFound(f"no object {object_id!r} in a collection you may read")
    return json_response(detail)


def _authority(collection_id: str) -> tuple[int, int]:
    """Which copy of an object the pivot shows: a collection partners cannot write (the city's
    own) before one they can, then the configured order."""
    ordered = list(services().settings.collections.values())
    for n, coll in enumerate(ordered):
        if coll.id == collection_id:
            return ("partner" in coll.write_roles, n)
    return (True, len(ordered))


def indicator_detail(object_id: str, caller: Caller) -> dict[str, Any] | None:
    """Everything the caller may know about one object: shared by the API and the web pages.

    One collection answers: the most authoritative one holding a copy the caller may see
    (_authority). Versions are never merged across collections, so a newer version someone
    posted elsewhere under the same id never passes for the object. Every version, sighting and
    related object shown is one the caller's scope (cyberlab.auth.access.read_scope) covers.
    """
    svc = services()
    store = svc.store
    found = visible_copies(caller, object_id)
    if not found:
        return None
    home = min(found, key=lambda h: _authority(h.collection))
    collection = svc.settings.collection(home.collection)
    assert collection is not None  # visible_copies only returns configured collections
    scope = read_scope(caller, collection, svc.settings.sightings_collection)
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
    # Counts are shared with everyone who may see the indicator ("seen by 4 organizations"),
    # whichever collection holds the sightings; who they were is for analysts only.
    everywhere = tuple(c.id for c in svc.settings.collections.values())
    sightings = store.sightings_of(object_id, everywhere)
    summary: dict[str, Any] = {
        "organizations": len({s.observer for s in sightings}),
        "count": sum(s.count for s in sightings),
        "first_seen": stamp(min((s.first_seen for s in sightings if s.first_seen), default=None)),
        "last_seen": stamp(max((s.last_seen for s in sightings if s.last_seen), default=None)),
    }
    readable = tuple(c.id for c in readable_collections(caller, svc.settings.collections.values()))
    if caller.role in ("analyst", "admin"):
        summary["by_organization"] = [
            {
                "sighting_id": s.id,
                "organization": s.observer_name or s.observer,
                "count": s.count,
                "first_seen": stamp(s.first_seen),
                "last_seen": stamp(s.last_seen),
            }
            for s in store.sightings_of(object_id, readable, max_tlp_rank(caller))
        ]
    # Relationships from collections where the caller reads everything (in one where it reads
    # only its own, another account's relationship is not its to see).
    open_collections = tuple(
        c.id
        for c in readable_collections(caller, svc.settings.collections.values())
        if read_scope(caller, c, svc.settings.sightings_collection).owner is None
    )
    related = [
        {
            "relationship_id": r.relationship_id,
            "relationship_type": r.relationship_type,
            "direction": r.direction,
            "id": r.other_id,
            "type": r.other_type,
            "name": r.other_name,
        }
        for r in (
            store.related(object_id, open_collections, max_tlp_rank(caller)) if open_collections else []
        )
    ]
    return {
        "object": ordered[-1] if ordered else None,
        "summary": render_hit(home),
        "collections": [
            render_hit(h)["collection"] for h in sorted(found, key=lambda h: _authority(h.collection))
        ],
        "versions": ordered,
        "sightings": summary,
        "related": related,
    }
