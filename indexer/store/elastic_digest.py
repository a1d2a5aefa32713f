"""Elasticsearch: email digest subscriptions and the "is this suspicious?" report queue.

Kept apart from elastic.py's object and search code: these are small documents in the meta index,
stored the way accounts and cursors are (an id of "<kind>|<key>", the record under "record"; the
meta mapping indexes only `kind` and `key`). ElasticStore inherits these methods.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from indexer.store.base import CheckReport, DigestState, DigestSubscription, ReportStatus


class ElasticDigestReports:
    # Provided by ElasticStore (the meta-document helpers every meta record uses).
    def _put(self, doc_id: str, body: dict[str, Any], listed: bool = False) -> None:
        raise NotImplementedError

    def _get(self, doc_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def _find(self, kind: str, **terms: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    # -- email digests ----------------------------------------------------------------------
    def get_digest_subscription(self, account: str) -> DigestSubscription | None:
        doc = self._get(f"digest|{account}")
        return _subscription(doc["record"]) if doc else None

    def save_digest_subscription(self, subscription: DigestSubscription) -> None:
        record = dataclasses.asdict(subscription)
        self._put(
            f"digest|{subscription.account}",
            {"kind": "digest", "key": subscription.account, "record": record},
            listed=True,  # list_digest_subscriptions() finds it by search
        )

    def list_digest_subscriptions(self) -> list[DigestSubscription]:
        subs = [_subscription(d["record"]) for d in self._find("digest")]
        return sorted(subs, key=lambda s: s.account)

    def get_digest_state(self, account: str) -> DigestState | None:
        doc = self._get(f"digest_state|{account}")
        return DigestState(**doc["record"]) if doc else None

    def save_digest_state(self, state: DigestState) -> None:
        record = dataclasses.asdict(state)
        self._put(
            f"digest_state|{state.account}", {"kind": "digest_state", "key": state.account, "record": record}
        )

    # -- "is this suspicious?" reports --------------------------------------------------------
    def add_check_report(self, report: CheckReport) -> None:
        self._put(f"check_report|{report.id}", _report_doc(report), listed=True)

    def get_check_report(self, report_id: str) -> CheckReport | None:
        doc = self._get(f"check_report|{report_id}")
        return CheckReport(**doc["record"]) if doc else None

    def list_check_reports(self, status: ReportStatus | None = None) -> list[CheckReport]:
        reports = [CheckReport(**d["record"]) for d in self._find("check_report")]
        if status:
            reports = [r for r in reports if r.status == status]
        return sorted(reports, key=lambda r: (r.created, r.id))

    def update_check_report(self, report: CheckReport) -> None:
        self._put(f"check_report|{report.id}", _report_doc(report), listed=True)


def _subscription(record: dict[str, Any]) -> DigestSubscription:
    return DigestSubscription(**{**record, "collections": tuple(record["collections"])})


def _report_doc(report: CheckReport) -> dict[str, Any]:
    return {"kind": "check_report", "key": report.id, "record": dataclasses.asdict(report)}
