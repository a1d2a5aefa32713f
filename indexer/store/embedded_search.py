"""Search over the embedded store: a page of hits, the total, facets and the sightings histogram.

The index it reads and keeps is embedded_search_index.py (the table layout is described there);
the conditions a query becomes are embedded_search_conditions.py, the facet counts
embedded_facets.py, an object's sightings and relationships embedded_related.py.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

import orjson

from indexer.search.model import Hit, SearchQuery, SearchResult, SearchSyntaxError
from indexer.store import embedded_facets
from indexer.store.embedded_search_conditions import conditions, fts_query
from indexer.store.embedded_search_index import DAY

TOTAL_CAP = 10_000  # past this, totals say "10,000+" (as Elasticsearch's track_total_hits does)
HISTOGRAM_DAYS = 365

_SORT_COLUMNS = {
    "last_seen": "last_seen",
    "first_seen": "first_seen",
    "sightings": "sightings",
    "value": "value",
}

_HIT_COLUMNS = (
    "d.rowid, d.collection, d.id, d.type, d.values_json, d.name, d.description, d.labels, d.sources,"
    " d.tlp, d.first_seen, d.last_seen, d.valid_until, d.revoked, d.sightings, d.organizations, d.value"
)


def search(conn: sqlite3.Connection, query: SearchQuery) -> SearchResult:
    match = fts_query(query.text, query.advanced)
    if query.text and not match:
        return SearchResult(hits=[], total=0, total_is_exact=True, more=False)
    if query.advanced:
        try:  # the query alone: an error here is the query's fault, not the store's
            conn.execute("SELECT rowid FROM search_fts WHERE search_fts MATCH ? LIMIT 1", (match,)).fetchall()
        except sqlite3.OperationalError as exc:
            raise SearchSyntaxError(f"the advanced query could not be parsed: {exc}") from None
    where, params, selective = conditions(query, match)
    # A word in many documents: collecting and ordering every match is what costs (bm25 scores
    # each one). Such texts are tested row by row along the sort index instead, stopping at a
    # page; relevance, which means little for a word in thousands of indicators, is then recency.
    if _walks(conn, query, match):
        page_where, page_params, still_selective = conditions(query, match, probe_text=True)
        page_query = replace(query, sort="-last_seen") if query.sort == "relevance" else query
        rows, positions = _page(conn, page_query, page_where, page_params, still_selective, "")
    else:
        rows, positions = _page(conn, query, where, params, selective, match)
    facets: dict[str, dict[str, int]] = {}
    sample, matched = 0, None
    if query.facets:
        facets, sample, matched = embedded_facets.facets(conn, query, match, where, params)
    # Exact facets have counted every match already: their sum is the total.
    counted = _total(conn, query, match, where, params) if matched is None else matched
    histogram = _histogram(conn, where, params) if query.histogram else []
    hits = [_hit(row, position) for row, position in zip(rows[: query.limit], positions, strict=False)]
    return SearchResult(
        hits=hits,
        total=min(counted, TOTAL_CAP),
        total_is_exact=counted <= TOTAL_CAP,
        more=len(rows) > query.limit,
        facets=facets,
        histogram=histogram,
        facets_sample=sample,
    )


def _total(
    conn: sqlite3.Connection, query: SearchQuery, match: str, where: list[str], params: list[Any]
) -> int:
    """The matches, counted up to TOTAL_CAP + 1."""
    if match:
        rest, rest_params, rest_selective = conditions(query, "")
        if not rest_selective:
            # The text's matches drive, streamed, and the count stops at the cap: `rowid IN
            # (...)` would first collect every match (200k for a common word at 1M).
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM search_fts"
                    " CROSS JOIN search_docs d ON d.rowid = search_fts.rowid"
                    f" WHERE search_fts MATCH ? AND {' AND '.join(rest)} LIMIT ?)",
                    (match, *rest_params, TOTAL_CAP + 1),
                ).fetchone()[0]
            )
    return int(
        conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM search_docs d WHERE {' AND '.join(where)} LIMIT ?)",
            (*params, TOTAL_CAP + 1),
        ).fetchone()[0]
    )


BROAD_MATCHES = 5_000


def _walks(conn: sqlite3.Connection, query: SearchQuery, match: str) -> bool:
    """Whether the text matches so many documents (over BROAD_MATCHES) that it is cheaper to walk
    the sort index and test the text row by row than to collect and sort every match."""
    if not match:
        return False
    if query.sort == "relevance" and query.after is not None:
        return len(query.after) == 2  # a bm25 position is an offset; a walk's is (last_seen, rowid)
    found = conn.execute(
        "SELECT COUNT(*) FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH ? LIMIT ?)",
        (match, BROAD_MATCHES + 1),
    ).fetchone()[0]
    return bool(found > BROAD_MATCHES)


def _page(
    conn: sqlite3.Connection,
    query: SearchQuery,
    where: list[str],
    params: list[Any],
    selective: bool,
    match: str,
) -> tuple[list[Any], list[tuple[Any, ...]]]:
    if query.sort == "relevance" and match:
        # bm25 order has no index to resume from: the position is an offset.
        offset = int(query.after[0]) if query.after else 0
        sql = (
            f"SELECT {_HIT_COLUMNS} FROM search_fts JOIN search_docs d ON d.rowid = search_fts.rowid"
            f" WHERE search_fts MATCH ? AND {' AND '.join(where)}"
            " ORDER BY bm25(search_fts, 4.0, 2.0, 1.0, 1.0, 1.0), d.rowid LIMIT ? OFFSET ?"
        )
        rows = conn.execute(sql, (match, *params, query.limit + 1, offset)).fetchall()
        return rows, [(offset + i + 1,) for i in range(len(rows))]
    sort = "-last_seen" if query.sort == "relevance" else query.sort
    descending = sort.startswith("-")
    column = _SORT_COLUMNS[sort.lstrip("-")]
    keyset_where, keyset_params = list(where), list(params)
    if query.after is not None:
        keyset_where.append(f"(d.{column}, d.rowid) {'<' if descending else '>'} (?, ?)")
        keyset_params.extend(query.after[:2])
    direction = "DESC" if descending else "ASC"
    # With a selective filter, find the few matches first and sort them ("+" keeps SQLite from
    # walking the whole sort index instead); without one, walk the sort index and stop early.
    prefix = "+" if selective else ""
    sql = (
        f"SELECT {_HIT_COLUMNS}, d.{column} FROM search_docs d WHERE {' AND '.join(keyset_where)}"
        f" ORDER BY {prefix}d.{column} {direction}, d.rowid {direction} LIMIT ?"
    )
    rows = conn.execute(sql, (*keyset_params, query.limit + 1)).fetchall()
    return rows, [(row[-1], row[0]) for row in rows]


def _hit(row: Any, position: tuple[Any, ...]) -> Hit:
    return Hit(
        collection=row[1],
        id=row[2],
        type=row[3],
        values=orjson.loads(row[4]),
        name=row[5],
        description=row[6],
        labels=orjson.loads(row[7]),
        sources=orjson.loads(row[8]),
        tlp=row[9],
        first_seen=row[10] or None,
        last_seen=row[11] or None,
        valid_until=row[12],
        revoked=bool(row[13]),
        sightings=row[14],
        organizations=row[15],
        position=position,
    )


def _histogram(conn: sqlite3.Connection, where: list[str], params: list[Any]) -> list[tuple[int, int]]:
    newest = conn.execute("SELECT MAX(last_seen) FROM search_sightings").fetchone()[0]
    if newest is None:
        return []
    since = newest - HISTOGRAM_DAYS * DAY
    rows = conn.execute(
        "SELECT s.last_seen / ? * ? AS day, SUM(s.count) FROM search_sightings s"
        " WHERE s.last_seen >= ? AND s.indicator_id IN"
        f" (SELECT d.id FROM search_docs d WHERE {' AND '.join(where)})"
        " GROUP BY day ORDER BY day",
        (DAY, DAY, since, *params),
    )
    return [(int(day), int(n)) for day, n in rows]
