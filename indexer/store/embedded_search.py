"""Search over the embedded store: denormalized rows per object, FTS5 for text, range indexes.

The index holds the latest version of every object (markings and relationships aside), kept in
the same transaction as the write that changes it, so a search never disagrees with TAXII.
- search_docs: one row per (collection, object): what analysts filter and sort on;
- search_values: its observable values: exact key, IP range as hex (CIDR containment is a
  string range), reversed domain (a suffix is a prefix range);
- search_fts: FTS5 over values, names, descriptions, patterns and labels (external content);
- search_sightings / search_links: who saw what, and relationships, for counts and pivots;
- search_facets: counts by type, TLP, source and label per (collection, TLP rank), kept by
  triggers, so the facets of an unfiltered search are a sum over a small table, not a scan;
- search_facet_sets / search_facet_docs: each document's facet set (collection, TLP rank, type,
  TLP, sources, labels: few distinct ones) and a narrow rowid -> (set, dates, sightings, revoked)
  table, kept by triggers, so the facets of a filtered search are one pass over small rows, not
  four GROUP BYs over the documents, and date, validity, sighting and revoked filters are
  answered from the narrow row too.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import replace
from typing import Any

import orjson

from indexer.search.docs import relationship_ends, search_doc, sighting_doc, tlp_rank_of
from indexer.search.model import Hit, Related, SearchQuery, SearchResult, SearchSyntaxError, SightingSummary
from indexer.search.values import ip_range, reverse_domain

SEARCH_SCHEMA_VERSION = 5  # 2: search_facets; 3: search_facet_sets, search_facet_docs;
# 5: search_facet_docs also holds the row filters (first/last seen, valid_until, revoked,
# sightings), search_facet_days
TOTAL_CAP = 10_000  # past this, totals say "10,000+" (as Elasticsearch's track_total_hits does)
HISTOGRAM_DAYS = 365
DAY = 86_400_000_000

SEARCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_meta (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS search_docs (
    rowid INTEGER PRIMARY KEY,
    collection TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
    value TEXT NOT NULL,                  -- the values, space-separated: full text and sorting
    values_json TEXT NOT NULL, name TEXT, description TEXT, pattern TEXT,
    labels TEXT NOT NULL, sources TEXT NOT NULL,
    tlp TEXT, tlp_rank INTEGER, created_by TEXT,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, valid_until INTEGER,
    revoked INTEGER NOT NULL, sightings INTEGER NOT NULL DEFAULT 0,
    organizations INTEGER NOT NULL DEFAULT 0, date_added INTEGER NOT NULL,
    UNIQUE (collection, id)
);
CREATE INDEX IF NOT EXISTS ix_search_docs_id ON search_docs (id);
CREATE INDEX IF NOT EXISTS ix_search_docs_last_seen ON search_docs (last_seen, rowid);
CREATE INDEX IF NOT EXISTS ix_search_docs_first_seen ON search_docs (first_seen, rowid);
CREATE INDEX IF NOT EXISTS ix_search_docs_sightings ON search_docs (sightings, rowid);
CREATE INDEX IF NOT EXISTS ix_search_docs_value ON search_docs (value, rowid);
CREATE TABLE IF NOT EXISTS search_values (
    doc INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, ip_lo TEXT, ip_hi TEXT, domain_rev TEXT
);
CREATE INDEX IF NOT EXISTS ix_search_values_doc ON search_values (doc);
CREATE INDEX IF NOT EXISTS ix_search_values_key ON search_values (key);
CREATE INDEX IF NOT EXISTS ix_search_values_ip ON search_values (ip_lo, ip_hi);
CREATE INDEX IF NOT EXISTS ix_search_values_domain ON search_values (domain_rev);
CREATE TABLE IF NOT EXISTS search_sightings (
    collection TEXT NOT NULL, id TEXT NOT NULL, indicator_id TEXT NOT NULL, observer TEXT,
    count INTEGER NOT NULL, first_seen INTEGER, last_seen INTEGER, PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS ix_search_sightings_of ON search_sightings (indicator_id);
CREATE INDEX IF NOT EXISTS ix_search_sightings_seen ON search_sightings (last_seen);
CREATE TABLE IF NOT EXISTS search_links (
    collection TEXT NOT NULL, id TEXT NOT NULL, source_ref TEXT NOT NULL,
    relationship_type TEXT NOT NULL, target_ref TEXT NOT NULL, PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS ix_search_links_source ON search_links (source_ref);
CREATE INDEX IF NOT EXISTS ix_search_links_target ON search_links (target_ref);
CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
    value, name, description, pattern, labels, content = 'search_docs', content_rowid = 'rowid'
);
CREATE TRIGGER IF NOT EXISTS search_docs_ai AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts (rowid, value, name, description, pattern, labels)
    VALUES (new.rowid, new.value, new.name, new.description, new.pattern, new.labels);
END;
CREATE TRIGGER IF NOT EXISTS search_docs_ad AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, value, name, description, pattern, labels)
    VALUES ('delete', old.rowid, old.value, old.name, old.description, old.pattern, old.labels);
END;

CREATE TABLE IF NOT EXISTS search_facets (
    collection TEXT NOT NULL, tlp_rank INTEGER NOT NULL,  -- -1: unmarked
    facet TEXT NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (collection, tlp_rank, facet, value)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS search_facets_ai AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_facets VALUES (new.collection, COALESCE(new.tlp_rank, -1), 'type', new.type, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO search_facets
        VALUES (new.collection, COALESCE(new.tlp_rank, -1), 'tlp', COALESCE(new.tlp, 'none'), 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO search_facets SELECT new.collection, COALESCE(new.tlp_rank, -1), 'source', j.value, 1
        FROM json_each(new.sources) j WHERE true ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO search_facets SELECT new.collection, COALESCE(new.tlp_rank, -1), 'label', j.value, 1
        FROM json_each(new.labels) j WHERE true ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS search_facets_ad AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_facets VALUES (old.collection, COALESCE(old.tlp_rank, -1), 'type', old.type, -1)
        ON CONFLICT DO UPDATE SET n = n - 1;
    INSERT INTO search_facets
        VALUES (old.collection, COALESCE(old.tlp_rank, -1), 'tlp', COALESCE(old.tlp, 'none'), -1)
        ON CONFLICT DO UPDATE SET n = n - 1;
    INSERT INTO search_facets SELECT old.collection, COALESCE(old.tlp_rank, -1), 'source', j.value, -1
        FROM json_each(old.sources) j WHERE true ON CONFLICT DO UPDATE SET n = n - 1;
    INSERT INTO search_facets SELECT old.collection, COALESCE(old.tlp_rank, -1), 'label', j.value, -1
        FROM json_each(old.labels) j WHERE true ON CONFLICT DO UPDATE SET n = n - 1;
END;

-- NULLs are stored as -1 and '' so that UNIQUE finds the set again (NULLs are all distinct).
-- A set no document uses any more is kept: it is one small row, and counts come from the docs.
CREATE TABLE IF NOT EXISTS search_facet_sets (
    id INTEGER PRIMARY KEY, collection TEXT NOT NULL, tlp_rank INTEGER NOT NULL, type TEXT NOT NULL,
    tlp TEXT NOT NULL, sources TEXT NOT NULL, labels TEXT NOT NULL,
    UNIQUE (collection, tlp_rank, type, tlp, sources, labels)
);
-- The columns of search_docs that row filters read (the same names, so one condition serves
-- both): a text + date search counts its facets here without reading the wide document rows.
CREATE TABLE IF NOT EXISTS search_facet_docs (
    doc INTEGER PRIMARY KEY, facet_set INTEGER NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, valid_until INTEGER,
    revoked INTEGER NOT NULL, sightings INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_search_facet_docs_set ON search_facet_docs (facet_set);  -- count w/o sort
CREATE TRIGGER IF NOT EXISTS search_facet_docs_ai AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_facet_sets (collection, tlp_rank, type, tlp, sources, labels)
        VALUES (new.collection, COALESCE(new.tlp_rank, -1), new.type, COALESCE(new.tlp, ''), new.sources,
                new.labels)
        ON CONFLICT DO NOTHING;
    INSERT INTO search_facet_docs (doc, facet_set, first_seen, last_seen, valid_until, revoked, sightings)
        SELECT new.rowid, s.id, new.first_seen, new.last_seen, new.valid_until, new.revoked, new.sightings
        FROM search_facet_sets s
        WHERE s.collection = new.collection AND s.tlp_rank = COALESCE(new.tlp_rank, -1)
        AND s.type = new.type AND s.tlp = COALESCE(new.tlp, '') AND s.sources = new.sources
        AND s.labels = new.labels;
END;
-- Sightings are the one filtered column updated in place (a sighting of the document arrives).
CREATE TRIGGER IF NOT EXISTS search_facet_docs_au AFTER UPDATE OF sightings ON search_docs
    WHEN new.sightings IS NOT old.sightings BEGIN
    UPDATE search_facet_docs SET sightings = new.sightings WHERE doc = new.rowid;
END;
CREATE TRIGGER IF NOT EXISTS search_facet_docs_ad AFTER DELETE ON search_docs BEGIN
    DELETE FROM search_facet_docs WHERE doc = old.rowid;
END;

-- Documents per (date: 0 first_seen, 1 last_seen; UTC day; facet set), kept by triggers on the
-- narrow table: the facets of a search filtered by one date's range alone are a sum over its
-- whole days, the edge days counted exactly along the date's index. Day k holds
-- [k, k + 1) days since 1970-01-01; day 0 also holds every earlier time.
CREATE TABLE IF NOT EXISTS search_facet_days (
    col INTEGER NOT NULL, day INTEGER NOT NULL, facet_set INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (col, day, facet_set)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS search_facet_days_ai AFTER INSERT ON search_facet_docs BEGIN
    INSERT INTO search_facet_days VALUES (0, MAX(new.first_seen, 0) / 86400000000, new.facet_set, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO search_facet_days VALUES (1, MAX(new.last_seen, 0) / 86400000000, new.facet_set, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS search_facet_days_ad AFTER DELETE ON search_facet_docs BEGIN
    INSERT INTO search_facet_days VALUES (0, MAX(old.first_seen, 0) / 86400000000, old.facet_set, -1)
        ON CONFLICT DO UPDATE SET n = n - 1;
    INSERT INTO search_facet_days VALUES (1, MAX(old.last_seen, 0) / 86400000000, old.facet_set, -1)
        ON CONFLICT DO UPDATE SET n = n - 1;
END;
"""

_SKIPPED_TYPES = ("marking-definition", "relationship")


# -- keeping the index ------------------------------------------------------------------------
def ensure_search_index(conn: sqlite3.Connection) -> bool:
    """Create the search tables; fill them from the stored objects if they are new. True if filled."""
    found = _version(conn)
    if found is not None and found < 5:
        # CREATE ... IF NOT EXISTS would keep the older narrow table and its trigger: drop them
        # (derived data, refilled below from search_docs; an open that stops in between finds
        # the old version again and does it over).
        with conn:
            conn.execute("DROP TRIGGER IF EXISTS search_facet_docs_ai")
            conn.execute("DROP TABLE IF EXISTS search_facet_docs")
            conn.execute("DROP TABLE IF EXISTS search_facet_days")
    conn.executescript(SEARCH_SCHEMA)
    if found is not None:
        if found < SEARCH_SCHEMA_VERSION:  # an index from before kept facets: count it once
            with conn:
                if found < 2:
                    _count_facets(conn)
                _fill_facet_sets(conn)
                conn.execute("UPDATE search_meta SET version = ?", (SEARCH_SCHEMA_VERSION,))
        return False
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute("SELECT collection, body, date_added FROM objects WHERE is_last = 1")
        for collection, body, date_added in rows:
            index_object(conn, collection, orjson.loads(body), date_added)
        conn.execute("INSERT INTO search_meta (one, version) VALUES (1, ?)", (SEARCH_SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def _version(conn: sqlite3.Connection) -> int | None:
    """The search index's schema version; None when there is no index yet."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_meta'").fetchone() is None:
        return None
    found = conn.execute("SELECT version FROM search_meta").fetchone()
    return None if found is None else int(found[0])


def _count_facets(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM search_facets")
    for facet, value, source in (
        ("type", "d.type", "search_docs d"),
        ("tlp", "COALESCE(d.tlp, 'none')", "search_docs d"),
        ("source", "j.value", "search_docs d, json_each(d.sources) j"),
        ("label", "j.value", "search_docs d, json_each(d.labels) j"),
    ):
        conn.execute(
            "INSERT INTO search_facets (collection, tlp_rank, facet, value, n)"
            f" SELECT d.collection, COALESCE(d.tlp_rank, -1), '{facet}', {value}, COUNT(*)"
            f" FROM {source} GROUP BY 1, 2, 4"
        )


def _fill_facet_sets(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM search_facet_docs")
    conn.execute("DELETE FROM search_facet_days")  # refilled by its triggers below
    conn.execute(
        "INSERT INTO search_facet_sets (collection, tlp_rank, type, tlp, sources, labels)"
        " SELECT DISTINCT collection, COALESCE(tlp_rank, -1), type, COALESCE(tlp, ''), sources, labels"
        " FROM search_docs WHERE true ON CONFLICT DO NOTHING"
    )
    conn.execute(
        "INSERT INTO search_facet_docs (doc, facet_set, first_seen, last_seen, valid_until, revoked,"
        " sightings) SELECT d.rowid, s.id, d.first_seen, d.last_seen, d.valid_until, d.revoked,"
        " d.sightings FROM search_docs d"
        " JOIN search_facet_sets s ON s.collection = d.collection AND s.tlp_rank = COALESCE(d.tlp_rank, -1)"
        " AND s.type = d.type AND s.tlp = COALESCE(d.tlp, '') AND s.sources = d.sources"
        " AND s.labels = d.labels"
    )


def index_object(conn: sqlite3.Connection, collection: str, obj: dict[str, Any], date_added: int) -> None:
    """Make the index describe `obj` as the latest version of its id (inside the caller's write)."""
    unindex_object(conn, collection, obj["id"])
    ends = relationship_ends(obj)
    if ends is not None:
        conn.execute(
            "INSERT INTO search_links (collection, id, source_ref, relationship_type, target_ref)"
            " VALUES (?, ?, ?, ?, ?)",
            (collection, obj["id"], *ends),
        )
    if obj["type"] in _SKIPPED_TYPES:
        return
    doc = search_doc(collection, obj, date_added)
    cursor = conn.execute(
        "INSERT INTO search_docs (collection, id, type, value, values_json, name, description, pattern,"
        " labels, sources, tlp, tlp_rank, created_by, first_seen, last_seen, valid_until, revoked,"
        " date_added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            collection,
            doc.id,
            doc.type,
            " ".join(v.value for v in doc.values),
            orjson.dumps([{"kind": v.kind, "value": v.value} for v in doc.values]).decode(),
            doc.name,
            doc.description,
            doc.pattern,
            orjson.dumps(doc.labels).decode(),
            orjson.dumps(doc.sources).decode(),
            doc.tlp,
            tlp_rank_of(doc),
            doc.created_by,
            doc.first_seen or 0,
            doc.last_seen or 0,
            doc.valid_until,
            int(doc.revoked),
            doc.date_added,
        ),
    )
    rowid = cursor.lastrowid
    if doc.values:
        conn.executemany(
            "INSERT INTO search_values (doc, kind, key, ip_lo, ip_hi, domain_rev) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (rowid, v.kind, v.key, *(v.ip_range or (None, None)), v.domain_rev)
                for v in {v.key: v for v in doc.values}.values()
            ],
        )
    sighting = sighting_doc(collection, obj)
    if sighting is not None:
        conn.execute(
            "INSERT INTO search_sightings (collection, id, indicator_id, observer, count, first_seen,"
            " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                collection,
                sighting.id,
                sighting.indicator_id,
                sighting.observer,
                sighting.count,
                sighting.first_seen,
                sighting.last_seen,
            ),
        )
        _refresh_sighting_counts(conn, sighting.indicator_id)
    else:
        _refresh_sighting_counts(conn, doc.id)


def unindex_object(conn: sqlite3.Connection, collection: str, object_id: str) -> None:
    conn.execute(
        "DELETE FROM search_values WHERE doc IN"
        " (SELECT rowid FROM search_docs WHERE collection = ? AND id = ?)",
        (collection, object_id),
    )
    conn.execute("DELETE FROM search_docs WHERE collection = ? AND id = ?", (collection, object_id))
    conn.execute("DELETE FROM search_links WHERE collection = ? AND id = ?", (collection, object_id))
    sighted = conn.execute(
        "DELETE FROM search_sightings WHERE collection = ? AND id = ? RETURNING indicator_id",
        (collection, object_id),
    ).fetchall()
    for (indicator_id,) in sighted:
        _refresh_sighting_counts(conn, indicator_id)


def _refresh_sighting_counts(conn: sqlite3.Connection, object_id: str) -> None:
    conn.execute(
        "UPDATE search_docs SET (sightings, organizations) = (SELECT COALESCE(SUM(count), 0),"
        " COUNT(DISTINCT observer) FROM search_sightings WHERE indicator_id = ?1) WHERE id = ?1",
        (object_id,),
    )


# -- answering ----------------------------------------------------------------------------------
_SORT_COLUMNS = {
    "last_seen": "last_seen",
    "first_seen": "first_seen",
    "sightings": "sightings",
    "value": "value",
}


def fts_query(text: str, advanced: bool) -> str:
    """Plain text: every whitespace-separated word becomes a quoted phrase, so no character in it
    is FTS5 syntax ("198.51.100.7" is one phrase; `OR`, `*`, `"` and `-` are just text)."""
    if advanced:
        return text
    words = [w for w in text.split() if any(c.isalnum() for c in w)]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def conditions(query: SearchQuery, match: str, probe_text: bool = False) -> tuple[list[str], list[Any], bool]:
    """SQL conditions on search_docs (alias d), their parameters, and whether any is selective.

    probe_text: test the text row by row (for walking an index in order) instead of letting the
    text's matches drive the query.
    """
    where = [f"d.collection IN ({_marks(query.collections)})"]
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
        where.append(f"d.id IN ({_marks(query.ids)})")
        params.extend(query.ids)
        selective = True
    if query.types:
        where.append(f"d.type IN ({_marks(query.types)})")
        params.extend(query.types)
    if query.values:
        where.append(f"d.rowid IN (SELECT doc FROM search_values WHERE key IN ({_marks(query.values)}))")
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
            where.append(f"EXISTS (SELECT 1 FROM json_each(d.{column}) WHERE value IN ({_marks(wanted)}))")
            params.extend(wanted)
    if query.tlp:
        where.append(f"d.tlp IN ({_marks(query.tlp)})")
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


def _marks(values: tuple[Any, ...]) -> str:
    return ",".join("?" * len(values))


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
        facets, sample, matched = _facets(conn, query, match, where, params)
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


def facets_alone(conn: sqlite3.Connection, query: SearchQuery) -> dict[str, dict[str, int]]:
    """The facets search() would answer for `query`, without its hits (the benchmark times them
    apart)."""
    match = fts_query(query.text, query.advanced)
    where, params, _ = conditions(query, match)
    return _facets(conn, query, match, where, params)[0]


def _facets(
    conn: sqlite3.Connection, query: SearchQuery, match: str, where: list[str], params: list[Any]
) -> tuple[dict[str, dict[str, int]], int, int | None]:
    """Facets, the sample size (0: exact) and, when they counted every match, how many."""
    if _only_access(query):
        return _counted_facets(conn, query), 0, None
    if FACETS_BY_SET:
        return _set_facets(conn, query, match, where, params)
    return _scanned_facets(conn, where, params), 0, None


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
        f" WHERE collection IN ({_marks(query.collections)}) AND tlp_rank <= ?"
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
        set_where = [f"s.collection IN ({_marks(query.collections)})"]
        set_params: list[Any] = list(query.collections)
        if query.max_tlp < 4:
            set_where.append("s.tlp_rank <= ?")  # -1: unmarked, visible with its collection
            set_params.append(query.max_tlp)
        if query.types:
            set_where.append(f"s.type IN ({_marks(query.types)})")
            set_params.extend(query.types)
        if query.tlp:
            set_where.append(f"NULLIF(s.tlp, '') IN ({_marks(query.tlp)})")
            set_params.extend(query.tlp)
        for column, wanted in (("sources", query.sources), ("labels", query.labels)):
            if wanted:
                set_where.append(
                    f"EXISTS (SELECT 1 FROM json_each(s.{column}) WHERE value IN ({_marks(wanted)}))"
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


def sightings_of(
    conn: sqlite3.Connection, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
) -> list[SightingSummary]:
    # The observer's name comes from an identity in the sighting's own collection: an identity
    # someone posted elsewhere under a partner's id never renames that partner.
    visible, extra = _visible("d", max_tlp_rank)
    rows = conn.execute(
        "SELECT s.collection, s.id, s.indicator_id, s.observer, o.name, s.count, s.first_seen, s.last_seen"
        " FROM search_sightings s"
        " LEFT JOIN search_docs d ON d.collection = s.collection AND d.id = s.id"
        " LEFT JOIN search_docs o"
        " ON o.collection = s.collection AND o.id = s.observer AND o.type = 'identity'"
        f" WHERE s.indicator_id = ? AND s.collection IN ({_marks(collections)}){visible}"
        " GROUP BY s.collection, s.id ORDER BY s.last_seen DESC",
        (object_id, *collections, *extra),
    )
    return [SightingSummary(*row) for row in rows]


def _visible(alias: str, max_tlp_rank: int | None) -> tuple[str, tuple[int, ...]]:
    """A condition on a TLP rank column: unmarked, or at most max_tlp_rank (None: no limit)."""
    if max_tlp_rank is None:
        return "", ()
    return f" AND ({alias}.tlp_rank IS NULL OR {alias}.tlp_rank <= ?)", (max_tlp_rank,)


def related(
    conn: sqlite3.Connection, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
) -> list[Related]:
    marks = _marks(collections)
    # Relationships are not in search_docs: their TLP is the stored latest version's.
    visible, extra = _visible("o", max_tlp_rank)
    link_visible = (
        " AND EXISTS (SELECT 1 FROM objects o WHERE o.collection = l.collection AND o.id = l.id"
        f" AND o.is_last = 1{visible})"
        if visible
        else ""
    )
    rows = conn.execute(
        "SELECT l.id, l.relationship_type, 'outgoing', l.target_ref FROM search_links l"
        f" WHERE l.source_ref = ? AND l.collection IN ({marks}){link_visible}"
        " UNION SELECT l.id, l.relationship_type, 'incoming', l.source_ref FROM search_links l"
        f" WHERE l.target_ref = ? AND l.collection IN ({marks}){link_visible}",
        (object_id, *collections, *extra, object_id, *collections, *extra),
    ).fetchall()
    named_visible, named_extra = _visible("d", max_tlp_rank)
    found = []
    for rel_id, rel_type, direction, other in rows:
        named = conn.execute(
            f"SELECT d.type, d.name FROM search_docs d WHERE d.id = ? AND d.collection IN ({marks})"
            f"{named_visible} LIMIT 1",
            (other, *collections, *named_extra),
        ).fetchone()
        other_type = named[0] if named else other.split("--", 1)[0]
        found.append(Related(rel_id, rel_type, direction, other, other_type, named[1] if named else None))
    return found
