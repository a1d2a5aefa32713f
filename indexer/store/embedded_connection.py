"""The embedded store's connection to its SQLite file, and the two doors every statement goes through.

Several gunicorn workers and an ingest process may use the file at once: WAL lets readers run
while one writer commits, writers take the lock up front (BEGIN IMMEDIATE) and wait on each other
through busy_timeout. Each process and thread opens its own connection (SQLite connections must
not cross a fork).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from indexer.errors import StoreError
from indexer.store.embedded_errors import store_error
from indexer.store.embedded_schema import upgrade_accounts

log = logging.getLogger(__name__)
T = TypeVar("T")

DB_FILENAME = "cyberlab.db"

# Virtual-machine steps between two looks at a search's clock (~0.1 ms of work each time).
_PROGRESS_STEPS = 1000


class EmbeddedConnection:
    """One connection per process and thread (opened lazily), and the statements run through it;
    EmbeddedStore and the parts of it kept in other modules build on this."""

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
            upgrade_accounts(conn)
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

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    # -- statements in one line ---------------------------------------------------------------
    def _one(self, doing: str, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of one read, or None."""
        return self._read(doing, lambda conn: conn.execute(sql, params).fetchone())

    def _all(self, doing: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._read(doing, lambda conn: conn.execute(sql, params).fetchall())

    def _run(self, doing: str, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement in its own write transaction."""
        self._write(doing, lambda conn: conn.execute(sql, params))


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo a failed write. SQLite may have rolled it back itself (it does on some SQLITE_FULL
    and I/O errors): a second ROLLBACK would raise and hide the error that matters."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.warning("store.rollback_failed error=%s", exc)
