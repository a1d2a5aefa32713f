"""The embedded store: one SQLite file in WAL mode.

The connection and its two doors are embedded_connection.py, the schema embedded_schema.py;
EmbeddedStore inherits its objects (embedded_objects.py), meta records (embedded_records.py),
digests and reports (embedded_digest.py). Search is embedded_search.py and the modules it names.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path

from indexer.errors import StoreError
from indexer.search.model import Related, SearchQuery, SearchResult, SearchTimeout, SightingSummary
from indexer.store import embedded_related, embedded_search, embedded_search_index
from indexer.store.embedded_connection import DB_FILENAME
from indexer.store.embedded_digest import EmbeddedDigestReports
from indexer.store.embedded_errors import os_cause, sqlite_cause
from indexer.store.embedded_objects import EmbeddedObjects
from indexer.store.embedded_records import EmbeddedRecords
from indexer.store.embedded_schema import SCHEMA, migrate_objects, upgrade_accounts

log = logging.getLogger(__name__)

__all__ = ["DB_FILENAME", "EmbeddedStore"]


# objects: embedded_objects.py; statuses, cursors, dead letters, accounts: embedded_records.py;
# digests and reports: embedded_digest.py; the connection and its doors: embedded_connection.py.
class EmbeddedStore(EmbeddedObjects, EmbeddedRecords, EmbeddedDigestReports):
    """Store backed by a single SQLite database file."""

    def initialize(self) -> None:
        # Its own connection, outside the two doors: the file may not exist yet, and the
        # schema script and the search index fill manage their own transactions.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # closing(): sqlite3's own context manager commits but leaves the connection open.
            with closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
                conn.execute("PRAGMA journal_mode = WAL")
                upgrade_accounts(conn)  # before the schema: CREATE TABLE IF NOT EXISTS keeps old columns
                conn.executescript(SCHEMA)
                migrate_objects(conn)
                if embedded_search_index.ensure_search_index(conn):
                    log.info("store.search_index_built path=%s", self.path)
            log.info("store.initialized path=%s", self.path)
        except (OSError, sqlite3.Error) as exc:
            cause = sqlite_cause(exc) if isinstance(exc, sqlite3.Error) else os_cause(exc)
            if cause in ("error", "unavailable") and not os.access(self.path.parent, os.W_OK):
                cause = "read_only"
            raise StoreError(f"cannot initialize store at {self.path}: {exc}", cause=cause) from exc

    def backup(self, target: Path | str) -> int:
        """A consistent copy of the live store (SQLite online backup: writers may keep writing)."""
        target = Path(target)
        if target.exists():
            raise StoreError(f"{target} already exists; choose a new file", cause="conflict")
        try:
            with closing(sqlite3.connect(target)) as copy:
                self._read("back up", lambda conn: conn.backup(copy, pages=1024))
                (pages,) = copy.execute("PRAGMA page_count").fetchone()
                (ok,) = copy.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.Error as exc:  # the copy's own file (the live store's errors are StoreErrors)
            raise StoreError(f"backup to {target} failed: {exc}", cause=sqlite_cause(exc)) from exc
        if ok != "ok":
            raise StoreError(f"backup {target} failed its integrity check: {ok}", cause="corrupt")
        return int(pages)

    @staticmethod
    def restore(source: Path | str, data_dir: Path | str) -> None:
        """Replace the store in `data_dir` with a backup; refuses a file that is not a sound store.

        Outside the two doors: it replaces the file they open, from another file."""
        source, target = Path(source), Path(data_dir) / DB_FILENAME
        try:
            with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as backup:
                try:
                    (ok,) = backup.execute("PRAGMA integrity_check").fetchone()
                    backup.execute("SELECT COUNT(*) FROM objects").fetchone()
                except sqlite3.Error as exc:
                    raise StoreError(
                        f"{source} is not a CyberLab store backup: {exc}", cause="corrupt"
                    ) from exc
                if ok != "ok":
                    raise StoreError(f"{source} failed its integrity check: {ok}", cause="corrupt")
                Path(data_dir).mkdir(parents=True, exist_ok=True)
                with closing(sqlite3.connect(target)) as live:
                    backup.backup(live)
        except sqlite3.Error as exc:
            raise StoreError(
                f"could not restore {source} into {target}: {exc}", cause=sqlite_cause(exc)
            ) from exc

    def size_bytes(self) -> int:
        # The files' sizes, not a statement: it answers even when SQLite cannot.
        return sum(p.stat().st_size for p in self.path.parent.glob(DB_FILENAME + "*") if p.is_file())

    # -- search -------------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        budget = query.time_budget_ms or 0
        try:
            return self._read("search", lambda conn: embedded_search.search(conn, query), budget)
        except StoreError as exc:
            if budget and exc.cause == "timeout":
                # The caller's question was too costly for its budget: theirs to narrow (422).
                raise SearchTimeout(budget) from None
            raise

    def sightings_of(
        self, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
    ) -> list[SightingSummary]:
        return self._read(
            "read sightings",
            lambda conn: embedded_related.sightings_of(conn, object_id, collections, max_tlp_rank),
        )

    def related(
        self, object_id: str, collections: tuple[str, ...], max_tlp_rank: int | None = None
    ) -> list[Related]:
        return self._read(
            "read relationships",
            lambda conn: embedded_related.related(conn, object_id, collections, max_tlp_rank),
        )
