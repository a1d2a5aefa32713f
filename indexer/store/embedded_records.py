"""The embedded store's meta records: status resources, connector cursors, dead letters,
ingest totals and accounts. EmbeddedStore inherits these methods (digests and reports:
embedded_digest.py).
"""

from __future__ import annotations

import sqlite3

import orjson

from indexer.errors import StoreError
from indexer.store.base import Account, DeadLetter, StatusRecord
from indexer.store.embedded_connection import EmbeddedConnection
from indexer.timestamps import now_micros

_ACCOUNT_COLUMNS = "name, role, key_hash, created, revoked, session_generation"


class EmbeddedRecords(EmbeddedConnection):
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
