"""Facet counts of an embedded search: kept counts, counts per facet set, or the old scan.

Which way a search's facets are counted depends on what narrows it (see facets() and
_set_facets()); the tables they read are in embedded_search_index.py.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import replace
from typing import Any

import orjson

from indexer.search.model import SearchQuery
from indexer.store.embedded_search_conditions import conditions, fts_query, marks, row_conditions
from indexer.store.embedded_search_index import DAY


def facets_alone(conn: sqlite3.Connection, query: SearchQuery) -> dict[str, dict[str, int]]:
    """The facets search() would answer for `query`, without its hits (the benchmark times them
    apart)."""
    match = fts_query(query.text, query.advanced)
    where, params, _ = conditions(query, match)
    return facets(conn, query, match, where, params)[0]


def facets(
    conn: sqlite3.Connection, query: SearchQuery, match: str, where: list[str], params: list[Any]
) -> tuple[dict[str, dict[str, int]], int, int | None]:
    """Facets, the sample size (0: exact) and, when they counted every match, how many."""
    if _only_access(query):
        return _counted_facets(conn, query), 0, None
    if FACETS_BY_SET:
        return _set_facets(conn, query, match, where, params)
    return _scanned_facets(conn, where, params), 0, None


def _asks_only(query: SearchQuery, **handled: Any) -> bool:
    """True when `query` narrows the search by nothing but who may see what and the fields in
    `handled` (given here as their defaults); how the answer is paged and presented is ignored."""
    bare = SearchQuery(collections=query.collections, max_tlp=query.max_tlp)
    presentation: dict[str, Any] = {
        "sort": bare.sort,
        "limit": bare.limit,
        "after": None,
        "facets": False,
        "histogram": False,
        "time_budget_ms": None,  # how long it may take, not what it asks
        "facet_sample": None,
    }
    return replace(query, **presentation, **handled) == bare


def _only_access(query: SearchQuery) -> bool:
    """True when nothing narrows the search but who may see what (its facets are kept counts)."""
    return _asks_only(query)


def _counted_facets(conn: sqlite3.Connection, query: SearchQuery) -> dict[str, dict[str, int]]:
    rows = conn.execute(
        "SELECT facet, value, SUM(n) AS total FROM search_facets"
        f" WHERE collection IN ({marks(query.collections)}) AND tlp_rank <= ?"
        " GROUP BY facet, value HAVING total > 0 ORDER BY facet, total DESC, value",
        (*query.collections, query.max_tlp),
    )
    facets: dict[str, dict[str, int]] = {name: {} for name in ("type", "tlp", "source", "label")}
    for facet, value, total in rows:
        if len(facets[facet]) < 50:
            facets[facet][str(value)] = int(total)
    return facets


FACET_VALUES = 50  # the most frequent values shown per facet
# False: count filtered facets the old way, four GROUP BYs over the documents (the benchmark's
# "before"; the answers are the same).
FACETS_BY_SET = True


def _set_facets(
    conn: sqlite3.Connection, query: SearchQuery, match: str, where: list[str], params: list[Any]
) -> tuple[dict[str, dict[str, int]], int, int | None]:
    """Facet counts of a filtered search, in one pass over the matches' facet sets; 0 when
    they are exact, else the number of matches sampled (query.facet_sample, text only); and when
    exact, the number of matches (each is in one set: the sum of the sets' counts).

    Matches are counted per facet set (over search_facet_docs, a narrow table that stays in
    cache), then each set's count is added to its type, TLP, sources and labels. When the filters
    are the text, properties of the set and the narrow row's columns (dates, validity, sightings,
    revoked), the FTS rowids drive (or, without text, the narrow table is read) and the wide
    search_docs rows are never read: the access filter and type, TLP, source and label filters
    are applied to the few sets counted, the row filters to the narrow rows. Any other filter
    (values, CIDR, domain, ids: selective ones) reads the matching documents once, with the same
    conditions as the hits and the total.
    """
    only_text_and_sets = _asks_only(
        query,
        text="",
        advanced=False,
        types=(),
        tlp=(),
        sources=(),
        labels=(),
        first_seen_after=None,
        first_seen_before=None,
        last_seen_after=None,
        last_seen_before=None,
        valid_at=None,
        min_sightings=None,
        revoked=None,
    )
    sample, scale = 0, 1.0
    if only_text_and_sets:
        set_where = [f"s.collection IN ({marks(query.collections)})"]
        set_params: list[Any] = list(query.collections)
        if query.max_tlp < 4:
            set_where.append("s.tlp_rank <= ?")  # -1: unmarked, visible with its collection
            set_params.append(query.max_tlp)
        if query.types:
            set_where.append(f"s.type IN ({marks(query.types)})")
            set_params.extend(query.types)
        if query.tlp:
            set_where.append(f"NULLIF(s.tlp, '') IN ({marks(query.tlp)})")
            set_params.extend(query.tlp)
        for column, wanted in (("sources", query.sources), ("labels", query.labels)):
            if wanted:
                set_where.append(
                    f"EXISTS (SELECT 1 FROM json_each(s.{column}) WHERE value IN ({marks(wanted)}))"
                )
                set_params.extend(wanted)
        row_where, row_params = row_conditions(query, "f")
        dates = _one_date_range(query)
        if match:
            visible = f"SELECT s.id FROM search_facet_sets s WHERE {' AND '.join(set_where)}"
            per_set, sample, scale = _text_set_counts(
                conn, match, query.facet_sample, row_where, row_params, visible, set_params
            )
        elif dates is not None:
            per_set = _day_set_counts(conn, *dates)
        elif row_where:
            per_set = _row_set_counts(conn, row_where, row_params)
        else:
            per_set = _all_set_counts(conn)
        rows = [
            (stix_type, tlp, sources, labels, round(per_set[set_id] * scale))
            for set_id, stix_type, tlp, sources, labels in conn.execute(
                "SELECT s.id, s.type, s.tlp, s.sources, s.labels FROM search_facet_sets s"
                f" WHERE {' AND '.join(set_where)}",
                set_params,
            )
            if set_id in per_set
        ]
    else:
        rows = conn.execute(
            "SELECT s.type, s.tlp, s.sources, s.labels, c.n FROM (SELECT f.facet_set, COUNT(*) AS n"
            " FROM search_docs d JOIN search_facet_docs f ON f.doc = d.rowid"
            f" WHERE {' AND '.join(where)} GROUP BY f.facet_set) c"
            " JOIN search_facet_sets s ON s.id = c.facet_set",
            params,
        ).fetchall()
    counts: dict[str, dict[str, int]] = {name: {} for name in ("type", "tlp", "source", "label")}
    for stix_type, tlp, sources, labels, n in rows:
        for facet, values in (
            ("type", (stix_type,)),
            ("tlp", (tlp or "none",)),
            ("source", orjson.loads(sources)),
            ("label", orjson.loads(labels)),
        ):
            bucket = counts[facet]
            for value in values:  # as json_each would: a value listed twice counts twice
                key = str(value)
                bucket[key] = bucket.get(key, 0) + n
    facets = {
        facet: dict(sorted(bucket.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_VALUES])
        for facet, bucket in counts.items()
    }
    return facets, sample, None if sample else sum(row[-1] for row in rows)


FACET_CHUNK = 1_000_000  # rowids per group_concat below: bounds the string to a few MB


def _text_set_counts(
    conn: sqlite3.Connection,
    match: str,
    sample: int | None,
    row_where: list[str],
    row_params: list[Any],
    visible: str = "",
    visible_params: Any = (),
) -> tuple[dict[int, int], int, float]:
    """Matches of `match` (and of the row filters, on search_facet_docs f) per facet set, how
    many were sampled (0: all, exact) and the factor that scales the counts up to all matches.

    The FTS rowids drive (in rowid order, a seek each into the narrow search_facet_docs); the
    set ids come back as one string per chunk of rowids, counted by Counter in C: a GROUP BY
    would sort every match first, which cost more than the join. Past `sample` text matches
    (counted first: cheap, the FTS index alone), only rowids whose multiplicative hash falls
    under sample/matches are joined: a spread sample, not the oldest or newest documents. The
    sample is taken only when the caller's own matches (those in the `visible` facet sets and
    the row filters) are more than `sample` too, counted up to sample + 1: a word common
    elsewhere but rare in what the caller may read is counted exactly.
    """
    keep = ""
    extra: tuple[int, ...] = ()
    matches = 0
    rows_sql = "".join(f" AND {c}" for c in row_where)
    if sample:
        matches = conn.execute(
            "SELECT COUNT(*) FROM search_fts WHERE search_fts MATCH ?", (match,)
        ).fetchone()[0]
        if matches > sample and visible:
            (mine,) = conn.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM search_fts"
                " CROSS JOIN search_facet_docs f ON f.doc = search_fts.rowid"
                f" WHERE search_fts MATCH ? AND f.facet_set IN ({visible}){rows_sql} LIMIT ?)",
                (match, *visible_params, *row_params, sample + 1),
            ).fetchone()
            if mine <= sample:
                matches = 0  # few of them are the caller's: count exactly
        if matches > sample:
            # Knuth's multiplicative hash of the rowid, mod 2^32 (exact integers below 3e9 rows).
            keep = " AND (search_fts.rowid * 2654435761) % 4294967296 < ?"
            extra = (int(sample / matches * 2**32),)
    # A sample with row filters is scaled up by its size before them: count both in one pass
    # (group_concat skips the NULL of a row the filters leave out). Otherwise the row filters
    # leave their rows out before group_concat.
    if keep and row_where:
        wanted, wanted_params = f"CASE WHEN {' AND '.join(row_where)} THEN f.facet_set END", row_params
        rows_sql, rows_params = "", []
    else:
        wanted, wanted_params = "f.facet_set", []
        rows_params = row_params
    counts: Counter[str] = Counter()
    hashed = 0
    newest = conn.execute("SELECT MAX(doc) FROM search_facet_docs").fetchone()[0] or 0
    for low in range(0, newest + 1, FACET_CHUNK):
        seen, joined = conn.execute(
            f"SELECT COUNT(*), group_concat({wanted}) FROM search_fts"
            " CROSS JOIN search_facet_docs f ON f.doc = search_fts.rowid"  # CROSS: FTS drives
            f" WHERE search_fts MATCH ? AND search_fts.rowid >= ? AND search_fts.rowid < ?{keep}{rows_sql}",
            (*wanted_params, match, low, low + FACET_CHUNK, *extra, *rows_params),
        ).fetchone()
        hashed += seen
        if joined:
            counts.update(joined.split(","))
    per_set = {int(set_id): n for set_id, n in counts.items()}
    sampled = sum(per_set.values())
    if keep and not sampled:  # the hash kept none of them (a tiny sample): count them all
        return _text_set_counts(conn, match, None, row_where, row_params)
    if not keep:
        return per_set, 0, 1.0
    return per_set, sampled, matches / hashed


def _one_date_range(query: SearchQuery) -> tuple[str, int | None, int | None] | None:
    """(column, lowest, highest: inclusive, None: open) when the only row filter is one date's
    range, else None."""
    first = (query.first_seen_after, query.first_seen_before)
    last = (query.last_seen_after, query.last_seen_before)
    others = (query.valid_at, query.min_sightings, query.revoked)
    if any(v is not None for v in others) or (first != (None, None)) == (last != (None, None)):
        return None
    return ("first_seen", *first) if first != (None, None) else ("last_seen", *last)


def _day_set_counts(conn: sqlite3.Connection, column: str, lo: int | None, hi: int | None) -> dict[int, int]:
    """Documents per facet set whose `column` is in [lo, hi]: the kept counts of the whole days
    inside the range, plus an exact count of the edges (along the date's index, joined to the
    narrow table: no wide row is read)."""
    first_day = 0 if lo is None else max(1, -(-lo // DAY))  # day 0 starts at -infinity
    last_day = None if hi is None else (hi + 1) // DAY - 1
    counts: Counter[int] = Counter()
    edges: list[tuple[int | None, int | None]] = []  # [low, high) ranges counted exactly
    if last_day is None or first_day <= last_day:
        rows = conn.execute(
            "SELECT facet_set, SUM(n) FROM search_facet_days WHERE col = ? AND day >= ? AND day <= ?"
            " GROUP BY facet_set",
            (0 if column == "first_seen" else 1, first_day, 2**62 if last_day is None else last_day),
        )
        counts.update({int(set_id): int(n) for set_id, n in rows})
        if lo is not None and lo < first_day * DAY:
            edges.append((lo, first_day * DAY))
        if last_day is not None and hi is not None and (last_day + 1) * DAY <= hi:
            edges.append(((last_day + 1) * DAY, hi + 1))
    else:
        edges.append((lo, None if hi is None else hi + 1))
    for low, high in edges:
        bounds = [f"d.{column} >= ?"] if low is not None else []
        bounds += [f"d.{column} < ?"] if high is not None else []
        (joined,) = conn.execute(
            f"SELECT group_concat(f.facet_set) FROM search_docs d INDEXED BY ix_search_docs_{column}"
            f" CROSS JOIN search_facet_docs f ON f.doc = d.rowid WHERE {' AND '.join(bounds) or 'true'}",
            [b for b in (low, high) if b is not None],
        ).fetchone()
        if joined:
            counts.update(int(set_id) for set_id in joined.split(","))
    return {set_id: n for set_id, n in counts.items() if n}


def _row_set_counts(conn: sqlite3.Connection, row_where: list[str], row_params: list[Any]) -> dict[int, int]:
    """Documents per facet set that pass the row filters: a pass over the narrow table alone."""
    counts: Counter[str] = Counter()
    newest = conn.execute("SELECT MAX(doc) FROM search_facet_docs").fetchone()[0] or 0
    for low in range(0, newest + 1, FACET_CHUNK):
        (joined,) = conn.execute(
            "SELECT group_concat(f.facet_set) FROM search_facet_docs f WHERE f.doc >= ? AND f.doc < ?"
            + "".join(f" AND {c}" for c in row_where),
            (low, low + FACET_CHUNK, *row_params),
        ).fetchone()
        if joined:
            counts.update(joined.split(","))
    return {int(set_id): n for set_id, n in counts.items()}


def _all_set_counts(conn: sqlite3.Connection) -> dict[int, int]:
    """Documents per facet set, along ix_search_facet_docs_set (in set order: nothing to sort)."""
    rows = conn.execute("SELECT facet_set, COUNT(*) FROM search_facet_docs GROUP BY facet_set")
    return {int(set_id): int(n) for set_id, n in rows}


def _scanned_facets(
    conn: sqlite3.Connection, where: list[str], params: list[Any]
) -> dict[str, dict[str, int]]:
    clause = " AND ".join(where)
    facets: dict[str, dict[str, int]] = {}
    for name, column in (("type", "d.type"), ("tlp", "COALESCE(d.tlp, 'none')")):
        rows = conn.execute(
            f"SELECT {column}, COUNT(*) FROM search_docs d WHERE {clause}"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 50",
            params,
        )
        facets[name] = {str(key): int(n) for key, n in rows}
    for name, column in (("source", "sources"), ("label", "labels")):
        rows = conn.execute(
            f"SELECT j.value, COUNT(*) FROM search_docs d, json_each(d.{column}) j WHERE {clause}"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 50",
            params,
        )
        facets[name] = {str(key): int(n) for key, n in rows}
    return facets
