"""The embedded store's schema (objects and meta records) and the upgrades of older stores.

The search index's own tables are embedded_search_index.py's.
"""

from __future__ import annotations

import logging
import sqlite3

from indexer.store.base import NewObject, version_tlp_rank

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    collection   TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,   -- modified (or created) in microseconds
    version_text TEXT    NOT NULL,   -- the same instant as the object spells it
    type         TEXT    NOT NULL,
    spec_version TEXT    NOT NULL,
    date_added   INTEGER NOT NULL,   -- microseconds, strictly increasing across the store
    is_first     INTEGER NOT NULL,
    is_last      INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    tlp_rank     INTEGER,            -- this version's TLP (indexer.tlp.effective_tlp_rank); NULL: unmarked
    owner        TEXT    NOT NULL DEFAULT ''  -- the account that first stored the id here; '': the platform
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_objects_version ON objects (collection, id, version);
CREATE INDEX IF NOT EXISTS ix_objects_added ON objects (collection, date_added, id, version);
CREATE INDEX IF NOT EXISTS ix_objects_added_last ON objects (collection, date_added, id, version)
    WHERE is_last = 1;
DROP INDEX IF EXISTS ix_objects_type;
CREATE INDEX IF NOT EXISTS ix_objects_type_added ON objects (collection, type, date_added, id, version);
-- Which spec versions each collection holds: a spec_version filter is answered without a scan.
CREATE TABLE IF NOT EXISTS collection_specs (
    collection TEXT NOT NULL, spec_version TEXT NOT NULL, PRIMARY KEY (collection, spec_version)
);
CREATE TABLE IF NOT EXISTS clock (one INTEGER PRIMARY KEY CHECK (one = 1), last INTEGER NOT NULL);
INSERT OR IGNORE INTO clock (one, last) VALUES (1, 0);
-- When each collection last lost an object version: with the newest date_added, its last change
-- (what export caches and their Last-Modified follow).
CREATE TABLE IF NOT EXISTS collection_deletes (collection TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS statuses (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, owner TEXT NOT NULL,
    request_timestamp INTEGER NOT NULL, status TEXT NOT NULL, details BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, connector TEXT NOT NULL, kind TEXT NOT NULL, origin TEXT NOT NULL,
    reason TEXT NOT NULL, payload BLOB NOT NULL, created INTEGER NOT NULL,
    UNIQUE (connector, origin)
);
CREATE TABLE IF NOT EXISTS ingest_totals (
    connector TEXT NOT NULL, outcome TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (connector, outcome)
);
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, key_hash TEXT NOT NULL,
    created INTEGER NOT NULL, revoked INTEGER, session_generation INTEGER NOT NULL DEFAULT 0
);
-- Email digests: what each account asked for, and (apart, so saving the form never loses it)
-- how far its last accepted digest went.
CREATE TABLE IF NOT EXISTS digest_subscriptions (
    account TEXT PRIMARY KEY, enabled INTEGER NOT NULL, frequency TEXT NOT NULL,
    collections TEXT NOT NULL, address TEXT NOT NULL, html INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS digest_state (
    account TEXT PRIMARY KEY, up_to INTEGER NOT NULL, sent_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS check_reports (
    id TEXT PRIMARY KEY, reporter TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
    created INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, decided_by TEXT NOT NULL,
    decided INTEGER, indicator_id TEXT NOT NULL
);
"""


def upgrade_accounts(conn: sqlite3.Connection) -> None:
    """Stores made before web sessions had generations get the column (idempotent)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(accounts)")}
    if columns and "session_generation" not in columns:
        try:
            conn.execute("ALTER TABLE accounts ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise


def migrate_objects(conn: sqlite3.Connection) -> None:
    """Give a store from before per-version TLP and owners its columns, the TLP filled in from
    every stored body (until then an AMBER version would pass for unmarked). Old ids belong to
    the platform: nobody knows which account stored them, so only admins may change them."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(objects)")}
    if {"tlp_rank", "owner"} <= columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "owner" not in columns:
            conn.execute("ALTER TABLE objects ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
        if "tlp_rank" not in columns:
            conn.execute("ALTER TABLE objects ADD COLUMN tlp_rank INTEGER")
            rows = conn.execute("SELECT rowid, id, type, body FROM objects").fetchall()
            conn.executemany(
                "UPDATE objects SET tlp_rank = ? WHERE rowid = ?",
                [(version_tlp_rank(NewObject(i, t, 0, "", "", body)), rowid) for rowid, i, t, body in rows],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.info("store.migrated path=objects columns=tlp_rank,owner")
