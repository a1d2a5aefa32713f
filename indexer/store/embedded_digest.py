"""The embedded store: email digest subscriptions and the "is this suspicious?" report queue.

Rows of their own tables (embedded_schema.py), read and written the way the other meta records
are (embedded_records.py). EmbeddedStore inherits these methods.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from indexer.errors import StoreError
from indexer.store.base import CheckReport, DigestState, DigestSubscription, ReportStatus
from indexer.store.embedded_connection import EmbeddedConnection
from indexer.timestamps import now_micros

_DIGEST_COLUMNS = "account, enabled, frequency, collections, address, html, updated"
_REPORT_COLUMNS = "id, reporter, kind, value, created, status, reason, decided_by, decided, indicator_id"


class EmbeddedDigestReports(EmbeddedConnection):
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
