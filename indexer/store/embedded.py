"""The embedded store: one SQLite file in WAL mode.

Several gunicorn workers and an ingest process may use the file at once: WAL lets readers run
while one writer commits, writers take the lock up front (BEGIN IMMEDIATE) and wait on each other
through busy_timeout. Each process and thread opens its own connection (SQLite connections must
not cross a fork).
"""

from __future__ import annotations

import heapq
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import orjson

from config.media import STIX_MEDIA_TYPE
from indexer.errors import StoreError
from indexer.search.model import (
    Related,
    SearchQuery,
    SearchResult,
    SearchTimeout,
    SightingSummary,
)
from indexer.store import embedded_related, embedded_search, embedded_search_index
from indexer.store.base import (
    SERVER,
    Account,
    AddOutcome,
    CheckReport,
    DeadLetter,
    DigestState,
    DigestSubscription,
    NewObject,
    ObjectQuery,
    Page,
    ReportStatus,
    StatusRecord,
    StoredObject,
    version_tlp_rank,
)
from indexer.store.embedded_errors import os_cause, sqlite_cause, store_error
from indexer.timestamps import now_micros

log = logging.getLogger(__name__)
T = TypeVar("T")

DB_FILENAME = "cyberlab.db"

_SCHEMA = """
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
_ACCOUNT_COLUMNS = "name, role, key_hash, created, revoked, session_generation"


def _upgrade_accounts(conn: sqlite3.Connection) -> None:
    """Stores made before web sessions had generations get the column (idempotent)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(accounts)")}
    if columns and "session_generation" not in columns:
        try:
            conn.execute("ALTER TABLE accounts ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise


# Virtual-machine steps between two looks at a search's clock (~0.1 ms of work each time).
_PROGRESS_STEPS = 1000

_OBJECT_COLUMNS = "id, type, version, version_text, spec_version, date_added, body"


class EmbeddedStore:
    """Store backed by a single SQLite database file."""

    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / DB_FILENAME
        self._local = threading.local()

    # -- the one door: every statement runs in _read or _write ---------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if not self.path.exists():
            raise StoreError(
                f"store not initialized: {self.path} does not exist (run `cyberlab init`)",
                cause="not_initialized",
            )
        conn = None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("PRAGMA mmap_size = 268435456")
            _upgrade_accounts(conn)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if not os.access(self.path.parent, os.W_OK):
                # WAL mode writes its -shm file even to read, so a read-only directory stops reads too.
                raise StoreError(
                    f"store directory {self.path.parent} is read-only; the store needs write access "
                    "to it (even to read, for its WAL index)",
                    cause="read_only",
                ) from exc
            raise store_error(exc, "open the connection", self.path) from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _read(self, doing: str, read: Callable[[sqlite3.Connection], T], time_limit_ms: int = 0) -> T:
        """Run `read` on this thread's connection; SQLite's errors become StoreErrors.

        With a time limit, SQLite calls a progress handler every _PROGRESS_STEPS virtual-machine
        steps (FTS5 prefix merges included); once past the deadline it interrupts the statement,
        so no single read holds a worker past its budget. Whatever fails after the deadline
        failed because of it: StoreError(cause="timeout")."""
        conn = self._conn()
        if not time_limit_ms:
            try:
                return read(conn)
            except sqlite3.Error as exc:
                raise store_error(exc, doing, self.path) from exc
        deadline = time.monotonic() + time_limit_ms / 1000
        expired = False

        def over_budget() -> bool:
            nonlocal expired
            expired = time.monotonic() > deadline
            return expired

        conn.set_progress_handler(over_budget, _PROGRESS_STEPS)
        try:
            return read(conn)
        except Exception as exc:
            if expired:
                raise StoreError(
                    f"could not {doing} in store {self.path} within {time_limit_ms} ms", cause="timeout"
                ) from exc
            if isinstance(exc, sqlite3.Error):
                raise store_error(exc, doing, self.path) from exc
            raise
        finally:
            conn.set_progress_handler(None, 0)

    def _write(self, doing: str, write: Callable[[sqlite3.Connection], T]) -> T:
        """Run `write` in one transaction: committed if it returns, rolled back if anything
        raises; SQLite's errors (at BEGIN, in `write` or at COMMIT) become StoreErrors.

        Writers take the lock up front (BEGIN IMMEDIATE) and wait on each other through
        busy_timeout; past it the error is cause="busy"."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise store_error(exc, doing, self.path) from exc
        try:
            result = write(conn)
            conn.execute("COMMIT")
            return result
        except BaseException as exc:
            _rollback(conn)
            if isinstance(exc, sqlite3.Error):
                raise store_error(exc, doing, self.path) from exc
            raise

    def initialize(self) -> None:
        # Its own connection, outside the two doors: the file may not exist yet, and the
        # schema script and the search index fill manage their own transactions.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # closing(): sqlite3's own context manager commits but leaves the connection open.
            with closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
                conn.execute("PRAGMA journal_mode = WAL")
                _upgrade_accounts(conn)  # before the schema: CREATE TABLE IF NOT EXISTS keeps old columns
                conn.executescript(_SCHEMA)
                _migrate_objects(conn)
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

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    # -- objects ----------------------------------------------------------------------------
    def add_objects(
        self, collection: str, objects: Sequence[NewObject], owner: str = SERVER
    ) -> list[AddOutcome]:
        if not objects:
            return []

        def write(conn: sqlite3.Connection) -> list[AddOutcome]:
            outcomes: list[AddOutcome] = []
            last = conn.execute("SELECT last FROM clock").fetchone()[0]
            now = now_micros()
            for obj in objects:
                outcome, last, is_last = self._add_one(conn, collection, obj, max(now, last + 1), last, owner)
                outcomes.append(outcome)
                if is_last:
                    embedded_search_index.index_object(conn, collection, orjson.loads(obj.body), last)
            conn.execute("UPDATE clock SET last = ?", (last,))
            conn.executemany(
                "INSERT OR IGNORE INTO collection_specs (collection, spec_version) VALUES (?, ?)",
                [(collection, spec) for spec in {o.spec_version for o in objects}],
            )
            return outcomes

        return self._write("add objects", write)

    @staticmethod
    def _add_one(
        conn: sqlite3.Connection, collection: str, obj: NewObject, date_added: int, last: int, owner: str
    ) -> tuple[AddOutcome, int, bool]:
        """Insert one version; also says whether it became the latest (the search index follows)."""
        # Inside the write lock: two accounts racing for one new id cannot both own it.
        held = conn.execute(
            "SELECT owner FROM objects WHERE collection = ? AND id = ? LIMIT 1", (collection, obj.id)
        ).fetchone()
        if held is not None and owner != SERVER and held[0] != owner:
            return "not_owner", last, False
        owner = held[0] if held is not None else owner  # later versions keep the first owner
        existing = conn.execute(
            "SELECT body FROM objects WHERE collection = ? AND id = ? AND version = ?",
            (collection, obj.id, obj.version),
        ).fetchone()
        if existing is not None:
            return ("duplicate" if existing[0] == obj.body else "conflict"), last, False
        low, high = conn.execute(
            "SELECT MIN(version), MAX(version) FROM objects WHERE collection = ? AND id = ?",
            (collection, obj.id),
        ).fetchone()
        is_first = low is None or obj.version < low
        is_last = high is None or obj.version > high
        if low is not None and is_first:
            conn.execute(
                "UPDATE objects SET is_first = 0 WHERE collection = ? AND id = ? AND version = ?",
                (collection, obj.id, low),
            )
        if high is not None and is_last:
            conn.execute(
                "UPDATE objects SET is_last = 0 WHERE collection = ? AND id = ? AND version = ?",
                (collection, obj.id, high),
            )
        conn.execute(
            "INSERT INTO objects (collection, id, version, version_text, type, spec_version,"
            " date_added, is_first, is_last, body, tlp_rank, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                collection,
                obj.id,
                obj.version,
                obj.version_text,
                obj.type,
                obj.spec_version,
                date_added,
                int(is_first),
                int(is_last),
                obj.body,
                version_tlp_rank(obj),
                owner,
            ),
        )
        return "added", date_added, is_last

    def query(self, query: ObjectQuery) -> Page:
        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            narrowed = _narrow_spec_versions(conn, query)
            if narrowed is None:
                return []
            if len(narrowed.types) > 1 and not narrowed.ids:
                # One ordered index range per type, merged: LIMIT stops each early, no big sort.
                per_type = [_rows(conn, replace(narrowed, types=(t,))) for t in narrowed.types]
                return list(heapq.merge(*per_type, key=lambda r: (r[5], r[0], r[2])))[: narrowed.limit + 1]
            return _rows(conn, narrowed)

        rows = self._read("read objects", read)
        more = len(rows) > query.limit
        objects = [
            StoredObject(
                id=r[0],
                type=r[1],
                version=r[2],
                version_text=r[3],
                spec_version=r[4],
                date_added=r[5],
                media_type=STIX_MEDIA_TYPE,
                body=r[6],
            )
            for r in rows[: query.limit]
        ]
        return Page(objects=objects, more=more)

    def object_exists(self, collection: str, object_id: str) -> bool:
        sql = "SELECT 1 FROM objects WHERE collection = ? AND id = ? LIMIT 1"
        return self._one("look an object up", sql, (collection, object_id)) is not None

    def object_owner(self, collection: str, object_id: str) -> str | None:
        sql = "SELECT owner FROM objects WHERE collection = ? AND id = ? LIMIT 1"
        row = self._one("read an object's owner", sql, (collection, object_id))
        return None if row is None else str(row[0])

    def delete_object(
        self,
        collection: str,
        object_id: str,
        versions: tuple[str | int, ...] = ("all",),
        spec_versions: tuple[str, ...] = (),
    ) -> int:
        where, params = _where(
            ObjectQuery(collection, ids=(object_id,), versions=versions, spec_versions=spec_versions)
        )

        def write(conn: sqlite3.Connection) -> int:
            deleted = conn.execute(f"DELETE FROM objects WHERE {' AND '.join(where)}", params).rowcount
            if deleted:
                # Strictly after every date_added so far: the change is always visible.
                last = conn.execute("SELECT last FROM clock").fetchone()[0]
                at = max(now_micros(), last + 1)
                conn.execute("UPDATE clock SET last = ?", (at,))
                conn.execute(
                    "INSERT INTO collection_deletes (collection, at) VALUES (?1, ?2)"
                    " ON CONFLICT (collection) DO UPDATE SET at = ?2",
                    (collection, at),
                )
            # The surviving versions' first/last flags must describe what is left.
            conn.execute(
                "UPDATE objects SET"
                " is_first = (version = (SELECT MIN(version) FROM objects"
                "                        WHERE collection = ?1 AND id = ?2)),"
                " is_last = (version = (SELECT MAX(version) FROM objects"
                "                       WHERE collection = ?1 AND id = ?2))"
                " WHERE collection = ?1 AND id = ?2",
                (collection, object_id),
            )
            embedded_search_index.unindex_object(conn, collection, object_id)
            survivor = conn.execute(
                "SELECT body, date_added FROM objects WHERE collection = ? AND id = ? AND is_last = 1",
                (collection, object_id),
            ).fetchone()
            if survivor is not None:
                embedded_search_index.index_object(conn, collection, orjson.loads(survivor[0]), survivor[1])
            return int(deleted)

        return self._write("delete an object", write)

    def newest_date_added(self, collection: str) -> int:
        sql = "SELECT MAX(date_added) FROM objects WHERE collection = ?"
        row = self._one("read the newest date_added", sql, (collection,))
        return int(row[0] or 0) if row else 0

    def last_change(self, collection: str) -> int:
        def read(conn: sqlite3.Connection) -> tuple[Any, Any]:
            (newest,) = conn.execute(
                "SELECT MAX(date_added) FROM objects WHERE collection = ?", (collection,)
            ).fetchone()
            deleted = conn.execute(
                "SELECT at FROM collection_deletes WHERE collection = ?", (collection,)
            ).fetchone()
            return newest, deleted

        newest, deleted = self._read("read a collection's last change", read)
        return max(int(newest or 0), int(deleted[0]) if deleted else 0)

    def count(self, collection: str) -> int:
        row = self._one("count objects", "SELECT COUNT(*) FROM objects WHERE collection = ?", (collection,))
        return int(row[0]) if row else 0

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

    # -- statements in one line ---------------------------------------------------------------
    def _one(self, doing: str, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of one read, or None."""
        return self._read(doing, lambda conn: conn.execute(sql, params).fetchone())

    def _all(self, doing: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._read(doing, lambda conn: conn.execute(sql, params).fetchall())

    def _run(self, doing: str, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement in its own write transaction."""
        self._write(doing, lambda conn: conn.execute(sql, params))

    # -- status resources -------------------------------------------------------------------
    def save_status(self, status: StatusRecord) -> None:
        details = orjson.dumps(
            {
                "successes": status.successes,
                "failures": status.failures,
                "pendings": status.pendings,
                "failures_omitted": status.failures_omitted,
            }
        )
        self._run(
            "save a status",
            "INSERT OR REPLACE INTO statuses (id, collection, owner, request_timestamp, status, details)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (status.id, status.collection, status.owner, status.request_timestamp, status.status, details),
        )

    def get_status(self, status_id: str) -> StatusRecord | None:
        row = self._one(
            "read a status",
            "SELECT id, collection, owner, request_timestamp, status, details FROM statuses WHERE id = ?",
            (status_id,),
        )
        if row is None:
            return None
        details = orjson.loads(row[5])
        return StatusRecord(
            id=row[0],
            collection=row[1],
            owner=row[2],
            request_timestamp=row[3],
            status=row[4],
            successes=details["successes"],
            failures=details["failures"],
            pendings=details["pendings"],
            failures_omitted=details.get("failures_omitted", 0),
        )

    # -- connector cursors ------------------------------------------------------------------
    def get_cursor(self, name: str) -> str | None:
        row = self._one("read a cursor", "SELECT value FROM cursors WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    def save_cursor(self, name: str, value: str) -> None:
        self._run(
            "save a cursor",
            "INSERT OR REPLACE INTO cursors (name, value, updated) VALUES (?, ?, ?)",
            (name, value, now_micros()),
        )

    # -- dead letters -----------------------------------------------------------------------
    def add_dead_letter(self, connector: str, kind: str, origin: str, reason: str, payload: bytes) -> None:
        # One letter per (connector, origin): a rerun that fails the same way replaces, not repeats.
        self._run(
            "add a dead letter",
            "INSERT OR REPLACE INTO dead_letters (connector, kind, origin, reason, payload, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (connector, kind, origin, reason, payload, now_micros()),
        )

    def list_dead_letters(self, connector: str | None = None) -> list[DeadLetter]:
        sql = "SELECT id, connector, kind, origin, reason, payload, created FROM dead_letters"
        if connector:
            rows = self._all("list dead letters", sql + " WHERE connector = ? ORDER BY id", (connector,))
        else:
            rows = self._all("list dead letters", sql + " ORDER BY id")
        return [DeadLetter(*row) for row in rows]

    def delete_dead_letter(self, letter_id: int) -> None:
        self._run("delete a dead letter", "DELETE FROM dead_letters WHERE id = ?", (letter_id,))

    # -- operations ---------------------------------------------------------------------------
    def record_ingest(self, connector: str, counts: dict[str, int]) -> None:
        self._write(
            "record ingest totals",
            lambda conn: conn.executemany(
                "INSERT INTO ingest_totals (connector, outcome, count) VALUES (?, ?, ?)"
                " ON CONFLICT (connector, outcome) DO UPDATE SET count = count + excluded.count",
                [(connector, outcome, n) for outcome, n in counts.items() if n],
            ),
        )

    def ingest_totals(self) -> dict[tuple[str, str], int]:
        rows = self._all("read ingest totals", "SELECT connector, outcome, count FROM ingest_totals")
        return {(c, o): int(n) for c, o, n in rows}

    def size_bytes(self) -> int:
        # The files' sizes, not a statement: it answers even when SQLite cannot.
        return sum(p.stat().st_size for p in self.path.parent.glob(DB_FILENAME + "*") if p.is_file())

    # -- accounts ---------------------------------------------------------------------------
    def add_account(self, account: Account) -> None:
        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        account.name,
                        account.role,
                        account.key_hash,
                        account.created,
                        account.revoked,
                        account.session_generation,
                    ),
                )
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"an account named {account.name!r} already exists", cause="conflict"
                ) from None

        self._write("add an account", write)

    def get_account(self, name: str) -> Account | None:
        row = self._one("read an account", f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE name = ?", (name,))
        return None if row is None else Account(*row)

    def list_accounts(self) -> list[Account]:
        rows = self._all("list accounts", f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY name")
        return [Account(*row) for row in rows]

    def update_account(self, account: Account) -> None:
        self._run(
            "update an account",
            "UPDATE accounts SET role = ?, key_hash = ?, revoked = ?, session_generation = ? WHERE name = ?",
            (account.role, account.key_hash, account.revoked, account.session_generation, account.name),
        )

    def end_sessions(self, name: str) -> None:
        self._run(
            "end an account's sessions",
            "UPDATE accounts SET session_generation = session_generation + 1 WHERE name = ?",
            (name,),
        )

    # -- email digests ----------------------------------------------------------------------
    def get_digest_subscription(self, account: str) -> DigestSubscription | None:
        row = self._one(
            "read a digest subscription",
            f"SELECT {_DIGEST_COLUMNS} FROM digest_subscriptions WHERE account = ?",
            (account,),
        )
        return None if row is None else _subscription(row)

    def save_digest_subscription(self, subscription: DigestSubscription) -> None:
        s = subscription
        self._run(
            "save a digest subscription",
            f"INSERT OR REPLACE INTO digest_subscriptions ({_DIGEST_COLUMNS}) VALUES ({_marks(7)})",
            (
                s.account,
                int(s.enabled),
                s.frequency,
                ",".join(s.collections),
                s.address,
                int(s.html),
                s.updated or now_micros(),
            ),
        )

    def list_digest_subscriptions(self) -> list[DigestSubscription]:
        sql = f"SELECT {_DIGEST_COLUMNS} FROM digest_subscriptions ORDER BY account"
        rows = self._all("list digest subscriptions", sql)
        return [_subscription(row) for row in rows]

    def get_digest_state(self, account: str) -> DigestState | None:
        row = self._one(
            "read a digest state",
            "SELECT account, up_to, sent_at FROM digest_state WHERE account = ?",
            (account,),
        )
        return None if row is None else DigestState(*row)

    def save_digest_state(self, state: DigestState) -> None:
        self._run(
            "save a digest state",
            "INSERT OR REPLACE INTO digest_state (account, up_to, sent_at) VALUES (?, ?, ?)",
            (state.account, state.up_to, state.sent_at),
        )

    # -- "is this suspicious?" reports --------------------------------------------------------
    def add_check_report(self, report: CheckReport) -> None:
        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO check_reports ({_REPORT_COLUMNS}) VALUES ({_marks(10)})",
                    _report_row(report),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"a report with id {report.id!r} already exists", cause="conflict") from None

        self._write("add a report", write)

    def get_check_report(self, report_id: str) -> CheckReport | None:
        row = self._one(
            "read a report", f"SELECT {_REPORT_COLUMNS} FROM check_reports WHERE id = ?", (report_id,)
        )
        return None if row is None else CheckReport(*row)

    def list_check_reports(self, status: ReportStatus | None = None) -> list[CheckReport]:
        sql = f"SELECT {_REPORT_COLUMNS} FROM check_reports"
        if status:
            rows = self._all("list reports", sql + " WHERE status = ? ORDER BY created, id", (status,))
        else:
            rows = self._all("list reports", sql + " ORDER BY created, id")
        return [CheckReport(*row) for row in rows]

    def update_check_report(self, report: CheckReport) -> None:
        self._run(
            "update a report",
            f"INSERT OR REPLACE INTO check_reports ({_REPORT_COLUMNS}) VALUES ({_marks(10)})",
            _report_row(report),
        )


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo a failed write. SQLite may have rolled it back itself (it does on some SQLITE_FULL
    and I/O errors): a second ROLLBACK would raise and hide the error that matters."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.warning("store.rollback_failed error=%s", exc)


def _rows(conn: sqlite3.Connection, query: ObjectQuery) -> list[tuple[Any, ...]]:
    where, params = _where(query)
    # Without statistics SQLite prefers the date_added order indexes even when an id or type
    # equality is far more selective (a 1M-row scan for match[id]); say which index fits.
    if query.ids:
        hint = "INDEXED BY ux_objects_version"
    elif len(query.types) == 1:
        hint = "INDEXED BY ix_objects_type_added"
    else:
        hint = ""
    sql = (
        f"SELECT {_OBJECT_COLUMNS} FROM objects {hint} WHERE {' AND '.join(where)}"
        " ORDER BY date_added, id, version LIMIT ?"
    )
    return conn.execute(sql, (*params, query.limit + 1)).fetchall()


def _narrow_spec_versions(conn: sqlite3.Connection, query: ObjectQuery) -> ObjectQuery | None:
    """Drop a spec_version filter that selects everything; None if it can match nothing."""
    if not query.spec_versions:
        return query
    present = {
        row[0]
        for row in conn.execute(
            "SELECT spec_version FROM collection_specs WHERE collection = ?", (query.collection,)
        )
    }
    wanted = present & set(query.spec_versions)
    if not wanted:
        return None
    return replace(query, spec_versions=()) if wanted == present else query


_DIGEST_COLUMNS = "account, enabled, frequency, collections, address, html, updated"
_REPORT_COLUMNS = "id, reporter, kind, value, created, status, reason, decided_by, decided, indicator_id"


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _subscription(row: tuple[Any, ...]) -> DigestSubscription:
    account, enabled, frequency, collections, address, html, updated = row
    return DigestSubscription(
        account,
        bool(enabled),
        frequency,
        tuple(c for c in collections.split(",") if c),
        address,
        bool(html),
        updated,
    )


def _report_row(r: CheckReport) -> tuple[Any, ...]:
    return (
        r.id,
        r.reporter,
        r.kind,
        r.value,
        r.created,
        r.status,
        r.reason,
        r.decided_by,
        r.decided,
        r.indicator_id,
    )


def _migrate_objects(conn: sqlite3.Connection) -> None:
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


def _where(query: ObjectQuery) -> tuple[list[str], list[object]]:
    """SQL conditions for a query. `is_last = 1` is spelt literally so the partial index applies."""
    where: list[str] = ["collection = ?"]
    params: list[object] = [query.collection]
    if query.ids:
        where.append(f"id IN ({','.join('?' * len(query.ids))})")
        params.extend(query.ids)
    if query.types:
        where.append(f"type IN ({','.join('?' * len(query.types))})")
        params.extend(query.types)
    if "all" not in query.versions:
        options: list[str] = []
        if "last" in query.versions:
            options.append("is_last = 1")
        if "first" in query.versions:
            options.append("is_first = 1")
        stamps = [v for v in query.versions if isinstance(v, int)]
        if stamps:
            options.append(f"version IN ({','.join('?' * len(stamps))})")
            params.extend(stamps)
        where.append(options[0] if len(options) == 1 else f"({' OR '.join(options)})")
    if query.spec_versions:
        where.append(f"spec_version IN ({','.join('?' * len(query.spec_versions))})")
        params.extend(query.spec_versions)
    if query.max_tlp_rank is not None:
        where.append("(tlp_rank IS NULL OR tlp_rank <= ?)")
        params.append(query.max_tlp_rank)
    if query.owner is not None:
        where.append("owner = ?")
        params.append(query.owner)
    if query.added_after is not None:
        where.append("date_added > ?")
        params.append(query.added_after)
    if query.after is not None:
        where.append("(date_added, id, version) > (?, ?, ?)")
        params.extend((query.after.date_added, query.after.id, query.after.version))
    return where, params
