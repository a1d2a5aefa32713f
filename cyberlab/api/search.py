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
    time_param,
)
from cyberlab.auth.access import readable_collections
from cyberlab.auth.clearance import tlp_clearance
from cyberlab.errors import BadRequest, Forbidden, NotFound, Unprocessable
from cyberlab.indicators import hit_view, indicator_detail
from cyberlab.services import services
from indexer.search.model import SORTS, SearchQuery, SearchResult, SearchSyntaxError, SearchTimeout
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


def next_token(result: SearchResult, fingerprint: str) -> str | None:
    """The signed cursor to the page after this one; None on the last page."""
    if not (result.more and result.hits):
        return None
    return services().tokens.issue_values(list(result.hits[-1].position), fingerprint)


def render_result(result: SearchResult, fingerprint: str, histogram: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "total": result.total,
        "total_is_exact": result.total_is_exact,
        "more": result.more,
        "results": [hit_view(h, services().settings).as_json() for h in result.hits],
    }
    token = next_token(result, fingerprint)
    if token:
        body["next"] = token
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
    svc = services()
    detail = indicator_detail(svc.store, svc.settings, svc.auth.caller(), object_id)
    if detail is None:
        raise NotFound(f"no object {object_id!r} in a collection you may read")
    return json_response(detail.as_json())
