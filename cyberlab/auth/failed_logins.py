"""Failed logins per client address, counted once for every worker on this machine.

With the rate limiter's "memory://" storage each gunicorn worker counts on its own, so a
"20 per minute" throttle let an address try 20 keys per minute per worker. Failed logins are
what a key guesser produces, so they are counted where every worker sees them: a small SQLite
file beside the store (WAL; a write only on a failure, a read on each check). A deployment
spread over several machines shares counts through redis:// instead (rate_limit.storage).
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from pathlib import Path

from limits import RateLimitItem

SCHEMA = """
CREATE TABLE IF NOT EXISTS failed_login (address TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failed_login_by_address ON failed_login (address, at);
CREATE INDEX IF NOT EXISTS failed_login_by_time ON failed_login (at);
"""


class FailedLogins:
    """A moving window of failures per address in a SQLite file shared by every process."""

    def __init__(self, path: Path, limit: RateLimitItem) -> None:
        self._path = path
        self._limit = limit.amount
        self._window = float(limit.get_expiry())
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        # One connection per thread and process: a connection must not cross a fork (gunicorn
        # builds the app in the master with --preload, then forks the workers).
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, timeout=5, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a lost count after a power cut is harmless
            db.executescript(SCHEMA)
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None while it is under the limit."""
        now = time.time()
        count, oldest = (
            self._db()
            .execute(
                "SELECT count(*), min(at) FROM failed_login WHERE address = ? AND at > ?",
                (address, now - self._window),
            )
            .fetchone()
        )
        if count < self._limit:
            return None
        # The window frees a slot when its oldest failure ages out.
        return max(1, math.ceil(float(oldest) + self._window - now))

    def failed(self, address: str) -> None:
        now = time.time()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT INTO failed_login (address, at) VALUES (?, ?)", (address, now))
            # Keep the table small: only the window matters.
            db.execute("DELETE FROM failed_login WHERE at <= ?", (now - self._window,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
