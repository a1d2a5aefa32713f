"""The report queue of "is this suspicious?": subscribers report a value, analysts triage it.

Accepting a report publishes an indicator in the city's collection (Settings.reports_collection)
through the normal ingest path (indexer.ingest), created by the platform itself: the reporter's
account appears nowhere in it. Rejecting keeps the analyst's reason for the queue's record.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from config import Settings
from cyberlab.check import COARSE
from indexer.ingest import ingest_objects
from indexer.normalize.common import identity, indicator_id, pattern_for, valid_until
from indexer.sanitize import Sanitizer
from indexer.store.base import CheckReport, Store
from indexer.timestamps import now_micros
from indexer.tlp import MARKING_FOR_LEVEL

MAX_REASON = 500


class ReportError(ValueError):
    """A report that cannot be filed or decided; the message says why, for the person."""


def file_report(store: Store, sanitizer: Sanitizer, reporter: str, kind: str, value: str) -> CheckReport:
    """Queue one validated value (cyberlab.check.validate) for the analysts."""
    reason = sanitizer.check(COARSE.get(kind, kind), value)
    if reason:
        raise ReportError("this value is known benign (or the city's own): there is nothing to report")
    for open_report in store.list_check_reports("open"):
        if open_report.reporter == reporter and open_report.value == value:
            return open_report  # reported already: one entry in the queue, however many clicks
    report = CheckReport(str(uuid.uuid4()), reporter, kind, value, now_micros())
    store.add_check_report(report)
    return report


def accept(
    store: Store, settings: Settings, sanitizer: Sanitizer, report: CheckReport, analyst: str
) -> CheckReport:
    if report.status != "open":
        raise ReportError(f"this report was already {report.status}")
    collection = settings.collection(settings.reports_collection)
    if collection is None:
        raise ReportError("no collection is configured for accepted reports")
    platform = identity(settings.platform_name)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    pattern = pattern_for(report.kind, report.value)
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(pattern),  # the same id the connectors give this value: they converge
        "created": stamp,
        "modified": stamp,
        "created_by_ref": platform["id"],
        "name": f"Reported to the city and confirmed: {report.value}",
        "description": "Reported through 'Is this suspicious?' and confirmed by a city analyst.",
        "indicator_types": ["malicious-activity"],
        "labels": ["reported-by-a-business"],
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": stamp,
        "object_marking_refs": [MARKING_FOR_LEVEL[collection.tlp_ceiling]],
        "external_references": [{"source_name": settings.platform_name, "description": "Confirmed report"}],
    }
    until = valid_until(report.kind, now.timestamp(), settings.expiry)
    if until:
        indicator["valid_until"] = until
    # The analyst confirmed it, but the city's own assets and known-benign values still never go out.
    result = ingest_objects(store, collection, [platform, indicator], sanitizer=sanitizer)
    failed = [f for f in result.failures if f.id == indicator["id"]]
    if failed:
        raise ReportError(f"the indicator could not be stored: {failed[0].message}")
    decided = replace(
        report, status="accepted", decided_by=analyst, decided=now_micros(), indicator_id=indicator["id"]
    )
    store.update_check_report(decided)
    return decided


def reject(store: Store, report: CheckReport, analyst: str, reason: str) -> CheckReport:
    if report.status != "open":
        raise ReportError(f"this report was already {report.status}")
    reason = reason.strip()
    if not reason:
        raise ReportError("say why the report is rejected (the reason is kept with it)")
    if len(reason) > MAX_REASON:
        raise ReportError(f"the reason is limited to {MAX_REASON} characters")
    decided = replace(report, status="rejected", reason=reason, decided_by=analyst, decided=now_micros())
    store.update_check_report(decided)
    return decided
