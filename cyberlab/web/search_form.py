"""The search page's work: the API's parameters and parsing, facet links, the next-page link.

Everyone gets the same filters as the JSON API (within their TLP clearance and collections);
analysts and admins also get facets, which are the expensive part.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flask import request, url_for

from cyberlab.api.search import SEARCH_PARAMS, next_token, parse_search, request_fingerprint, too_expensive
from cyberlab.errors import TaxiiError
from cyberlab.indicators import HitView, hit_view
from cyberlab.services import services
from indexer.search.model import SearchSyntaxError, SearchTimeout

PAGE_SIZE = 50
# Parameters that narrow a search; sort, limit and next only order or page it.
FILTERS = tuple(
    p for p in SEARCH_PARAMS if p not in ("sort", "limit", "next", "facets", "histogram", "syntax")
)


@dataclass
class SearchPage:
    asked: bool
    hits: list[HitView]
    total: int = 0
    total_is_exact: bool = True
    facets: dict[str, list[tuple[str, int, str]]] | None = None  # name -> (value, count, link)
    facets_sample: int = 0  # the facets are estimated from this many matches (0: exact counts)
    next_url: str = ""
    error: str = ""
    note: str = ""


def _args_with(**changes: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {k: request.args.getlist(k) for k in request.args if k in SEARCH_PARAMS}
    args.pop("next", None)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return args


ADVANCED_NOTE = "Query syntax is for analyst accounts: your words were searched as plain text."


def run_search(collections: tuple[str, ...], clearance: int, with_facets: bool) -> SearchPage:
    """with_facets: the caller is an analyst (facets and query syntax are theirs alone)."""
    if not any(request.args.get(name) for name in FILTERS):
        return SearchPage(asked=False, hits=[])
    # malformed parameters, or a query over its cost limits: a 400 page
    query = parse_search(clearance, list(collections), allow_advanced=with_facets)
    note = ADVANCED_NOTE if request.args.get("syntax") == "advanced" and not with_facets else ""
    query = replace(query, facets=with_facets, histogram=False, limit=min(query.limit, PAGE_SIZE))
    fingerprint = request_fingerprint()
    token = request.args.get("next")
    if token:
        query = replace(query, after=tuple(services().tokens.open_values(token, fingerprint)))
    try:
        result = services().store.search(query)
    except (SearchSyntaxError, ValueError) as exc:
        return SearchPage(asked=True, hits=[], error=str(exc))
    except SearchTimeout as exc:
        raise too_expensive(exc) from None
    page = SearchPage(
        asked=True,
        hits=[hit_view(h, services().settings) for h in result.hits],
        total=result.total,
        total_is_exact=result.total_is_exact,
        note=note,
    )
    token = next_token(result, fingerprint)
    if token:
        page.next_url = url_for("web.search_page", **_args_with(), next=token)
    if result.facets:
        page.facets_sample = result.facets_sample
        page.facets = {
            name: [
                (str(key), n, url_for("web.search_page", **_args_with(**{name: str(key)})))
                for key, n in counts.items()
            ]
            for name, counts in result.facets.items()
        }
    return page


def bad_search(exc: TaxiiError) -> SearchPage:
    return SearchPage(asked=True, hits=[], error=exc.description)
