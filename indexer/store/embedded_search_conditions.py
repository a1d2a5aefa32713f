"""The SQL conditions a search query becomes, on search_docs (and the narrow search_facet_docs).

Shared by the page, the total and the facets (embedded_search.py, embedded_facets.py), so all
three count the same matches.
"""

from __future__ import annotations

from typing import Any

from indexer.search.model import SearchQuery
from indexer.search.values import ip_range, reverse_domain


def fts_query(text: str, advanced: bool) -> str:
    """Plain text: every whitespace-separated word becomes a quoted phrase, so no character in it
    is FTS5 syntax ("198.51.100.7" is one phrase; `OR`, `*`, `"` and `-` are just text). A NUL
    separates words too: SQLite reads a string only up to one ("unterminated string", a 503)."""
    if advanced:
        return text
    words = [w for w in text.replace("\x00", " ").split() if any(c.isalnum() for c in w)]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def conditions(query: SearchQuery, match: str, probe_text: bool = False) -> tuple[list[str], list[Any], bool]:
    """SQL conditions on search_docs (alias d), their parameters, and whether any is selective.

    probe_text: test the text row by row (for walking an index in order) instead of letting the
    text's matches drive the query.
    """
    where = [f"d.collection IN ({marks(query.collections)})"]
    params: list[Any] = list(query.collections)
    selective = False
    if query.max_tlp < 4:
        where.append("(d.tlp_rank IS NULL OR d.tlp_rank <= ?)")
        params.append(query.max_tlp)
    if match and probe_text:
        where.append(
            "EXISTS (SELECT 1 FROM search_fts WHERE search_fts MATCH ? AND search_fts.rowid = d.rowid)"
        )
        params.append(match)
    elif match:
        where.append("d.rowid IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ?)")
        params.append(match)
        selective = True
    if query.ids:
        where.append(f"d.id IN ({marks(query.ids)})")
        params.extend(query.ids)
        selective = True
    if query.types:
        where.append(f"d.type IN ({marks(query.types)})")
        params.extend(query.types)
    if query.values:
        where.append(f"d.rowid IN (SELECT doc FROM search_values WHERE key IN ({marks(query.values)}))")
        params.extend(v.strip().lower() for v in query.values)
        selective = True
    if query.cidr:
        bounds = ip_range(query.cidr)
        if bounds is None:
            raise ValueError(f"{query.cidr!r} is not an IP address or CIDR block")
        where.append(
            "d.rowid IN (SELECT doc FROM search_values WHERE ip_lo >= ? AND ip_lo <= ? AND ip_hi <= ?)"
        )
        params.extend((bounds[0], bounds[1], bounds[1]))
        selective = True
    if query.domain:
        rev = reverse_domain(query.domain)
        where.append(
            "d.rowid IN (SELECT doc FROM search_values WHERE domain_rev = ? OR"
            " (domain_rev > ? AND domain_rev < ?))"
        )
        params.extend((rev, rev + ".", rev + "/"))  # "/" sorts right after "."
        selective = True
    for column, wanted in (("sources", query.sources), ("labels", query.labels)):
        if wanted:
            where.append(f"EXISTS (SELECT 1 FROM json_each(d.{column}) WHERE value IN ({marks(wanted)}))")
            params.extend(wanted)
    if query.tlp:
        where.append(f"d.tlp IN ({marks(query.tlp)})")
        params.extend(query.tlp)
    row_where, row_params = row_conditions(query, "d")
    where.extend(row_where)
    params.extend(row_params)
    # Never let the collection index drive: without statistics SQLite would rather scan it and
    # test (or sort) every row of a collection, when the few matching rowids of a selective
    # filter, or the sort column's index walked in order, find a page at once ("+" makes the
    # index unusable). A caller reads a few large collections, so walking the sort index and
    # testing the collection finds a page quickly.
    where[0] = "+" + where[0]
    return where, params, selective


def row_conditions(query: SearchQuery, alias: str) -> tuple[list[str], list[Any]]:
    """The filters on a document's dates, sightings and revocation: columns that search_docs
    and the narrow search_facet_docs both have, under the same names."""
    where: list[str] = []
    params: list[Any] = []
    for sql, value in (
        ("first_seen >= ?", query.first_seen_after),
        ("first_seen <= ?", query.first_seen_before),
        ("last_seen >= ?", query.last_seen_after),
        ("last_seen <= ?", query.last_seen_before),
        ("sightings >= ?", query.min_sightings),
    ):
        if value is not None:
            where.append(f"{alias}.{sql}")
            params.append(value)
    if query.valid_at is not None:
        where.append(f"{alias}.first_seen <= ? AND ({alias}.valid_until IS NULL OR {alias}.valid_until > ?)")
        params.extend((query.valid_at, query.valid_at))
    if query.revoked is not None:
        where.append(f"{alias}.revoked = ?")
        params.append(int(query.revoked))
    return where, params


def marks(values: tuple[Any, ...]) -> str:
    return ",".join("?" * len(values))
