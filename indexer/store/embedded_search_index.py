"""The embedded store's search index: its tables and keeping them (ensure, index, unindex).

Denormalized rows per object, FTS5 for text, range indexes. The index holds the latest version
of every object (markings and relationships aside), kept in the same transaction as the write
that changes it, so a search never disagrees with TAXII.
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
from typing import Any

import orjson

from indexer.search.docs import relationship_ends, search_doc, sighting_doc, tlp_rank_of

SEARCH_SCHEMA_VERSION = 5  # 2: search_facets; 3: search_facet_sets, search_facet_docs;
# 5: search_facet_docs also holds the row filters (first/last seen, valid_until, revoked,
# sightings), search_facet_days
DAY = 86_400_000_000  # microseconds: search_facet_days counts whole UTC days of these

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
