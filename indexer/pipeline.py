"""One connector run: collect -> normalize -> sanitize -> validate -> merge -> store -> cursor.

The cursor is saved only after the store committed the batch it belongs to. Every object of a
batch is committed in one transaction; a record that cannot be normalized goes to the dead-letter
store with its reason and the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from config import ConnectorSettings, Settings
from connectors.base import Batch, Connector, RawRecord
from connectors.registry import build_connector
from indexer.errors import InvalidObjectError
from indexer.ingest import ingest_objects
from indexer.merge import merge_with_store
from indexer.normalize import NormalizationError, NormalizeContext, normalize
from indexer.normalize.common import identity
from indexer.sanitize import Sanitizer, prune
from indexer.store.base import Store
from indexer.validate import validate_stix_object

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    connector: str
    dry_run: bool = False
    read: int = 0
    batches: int = 0
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    cursor: str | None = None

    def lines(self) -> list[str]:
        created, updated = ("to create", "to update") if self.dry_run else ("created", "updated")
        out = [
            f"connector {self.connector}" + (" (dry run: nothing stored)" if self.dry_run else ""),
            f"  input read:          {self.read:,} ({self.batches:,} batches, {self.records:,} records)",
            f"  objects {created}:   {self.created:,}",
            f"  objects {updated}:   {self.updated:,} (new versions)",
            f"  objects unchanged:   {self.unchanged:,}",
            f"  dropped:             {sum(self.dropped.values()):,}",
            *(f"    {reason}: {n:,}" for reason, n in sorted(self.dropped.items())),
            f"  input skipped:       {sum(self.skipped.values()):,}",
            *(f"    {reason}: {n:,}" for reason, n in sorted(self.skipped.items())),
            f"  dead-lettered:       {self.dead_lettered:,}",
        ]
        out += [f"  ! {origin}: {message}" for origin, message in self.problems[:10]]
        if len(self.problems) > 10:
            out.append(f"  ! ... and {len(self.problems) - 10} more")
        return out


def context_for(settings: Settings, conn: ConnectorSettings) -> NormalizeContext:
    return NormalizeContext(
        platform_identity=identity(settings.platform_name),
        source_identity=identity(conn.source_name or conn.name),
        source_name=conn.source_name or conn.name,
        default_tlp=conn.default_tlp,
        expiry=settings.expiry,
    )


def cursor_key(name: str) -> str:
    return f"connector:{name}"


class Pipeline:
    """Turns a connector's batches into stored objects for one run."""

    def __init__(self, settings: Settings, store: Store, name: str) -> None:
        if name not in settings.connectors:
            raise InvalidObjectError(f"no connector named {name!r}")
        self.settings = settings
        self.store = store
        self.name = name
        self.conn = settings.connectors[name]
        collection = settings.collection(self.conn.collection)
        assert collection is not None  # checked when settings load
        self.collection = collection
        self.ctx = context_for(settings, self.conn)
        self.sanitizer = Sanitizer(settings.sanitize)

    def run(
        self,
        cursor: str | None = None,
        use_saved_cursor: bool = True,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
        connector: Connector | None = None,
    ) -> RunReport:
        report = RunReport(self.name, dry_run=dry_run)
        if use_saved_cursor and cursor is None:
            cursor = self.store.get_cursor(cursor_key(self.name))
        source = connector or build_connector(self.conn)
        log.info("ingest.start connector=%s source=%r", self.name, source.describe())
        for batch in source.batches(cursor):
            self.process(batch, report, dry_run)
            if progress:
                progress(batch.read)
        log.info(
            "ingest.done connector=%s read=%d created=%d updated=%d unchanged=%d dropped=%d dead=%d",
            self.name,
            report.read,
            report.created,
            report.updated,
            report.unchanged,
            sum(report.dropped.values()),
            report.dead_lettered,
        )
        return report

    def process(self, batch: Batch, report: RunReport, dry_run: bool) -> None:
        report.batches += 1
        report.read += batch.read
        report.records += len(batch.records)
        report.skipped.update(batch.skipped)
        report.problems.extend(batch.problems)
        objects = self.normalize(batch.records, report, dry_run)
        if objects:
            marked = [
                {**ident, "object_marking_refs": [self.ctx.marking]}
                for ident in (self.ctx.platform_identity, self.ctx.source_identity)
            ]
            objects = [*marked, *objects]
        objects, drops = self.sanitizer.filter(objects, self.collection)
        report.dropped.update(drops)
        objects = self.validated(objects, report)
        merged = merge_with_store(objects, self.store, self.collection.id)
        report.unchanged += merged.counts["unchanged"]
        if dry_run:
            report.created += sum(1 for o in merged.objects if o["id"] not in merged.existing)
            report.updated += sum(1 for o in merged.objects if o["id"] in merged.existing)
            return
        if merged.objects:
            stored = ingest_objects(
                self.store,
                self.collection,
                merged.objects,
                validate=False,
                batch_size=len(merged.objects) + 1,
            )
            for result in stored.successes:
                if result.message != "added":
                    report.unchanged += 1
                elif result.id in merged.existing:
                    report.updated += 1
                else:
                    report.created += 1
            for failure in stored.failures:
                report.dropped["rejected-by-store"] += 1
                report.problems.append((failure.id, failure.message))
        if batch.cursor is not None:
            self.store.save_cursor(cursor_key(self.name), batch.cursor)  # only after the commit
            report.cursor = batch.cursor

    def normalize(self, records: list[RawRecord], report: RunReport, dry_run: bool) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        for record in records:
            try:
                objects.extend(normalize(record, self.ctx))
            except NormalizationError as exc:
                report.dead_lettered += 1
                report.problems.append((record.origin, str(exc)))
                log.warning(
                    "ingest.dead_letter connector=%s origin=%s reason=%s", self.name, record.origin, exc
                )
                if not dry_run:
                    self.store.add_dead_letter(
                        self.name, record.kind, record.origin, str(exc), _payload(record)
                    )
        return objects

    def validated(self, objects: list[dict[str, Any]], report: RunReport) -> list[dict[str, Any]]:
        kept: list[dict[str, Any]] = []
        invalid: set[str] = set()
        for obj in objects:
            try:
                validate_stix_object(obj)
            except InvalidObjectError as exc:
                invalid.add(obj.get("id", ""))
                report.dropped["invalid-stix"] += 1
                if len(report.problems) < 1000:
                    report.problems.append((obj.get("id", "?"), f"invalid STIX: {exc}"))
                continue
            kept.append(obj)
        return prune(kept, invalid, report.dropped)


def _payload(record: RawRecord) -> bytes:
    def fallback(value: Any) -> Any:
        if isinstance(value, set | frozenset):
            return sorted(value)
        raise TypeError

    if isinstance(record.data, str):
        return record.data.encode("utf-8")
    return orjson.dumps(record.data, default=fallback)


def retry_dead_letters(settings: Settings, store: Store, name: str) -> tuple[int, int]:
    """Normalize each dead letter of connector `name` again; store and remove the ones that pass."""
    pipeline = Pipeline(settings, store, name)
    fixed = still = 0
    for letter in store.list_dead_letters(name):
        data: Any = (
            letter.payload.decode("utf-8") if letter.kind == "unparseable" else orjson.loads(letter.payload)
        )
        if letter.kind == "soc-aggregate":
            from connectors.soc.connector import SocAggregate

            data = SocAggregate(
                **{**data, "signatures": set(data["signatures"]), "categories": set(data["categories"])}
            )
        report = RunReport(name)
        pipeline.process(Batch([RawRecord(letter.kind, data, letter.origin)], cursor=None), report, False)
        if report.dead_lettered:
            still += 1
        else:
            store.delete_dead_letter(letter.id)
            fixed += 1
    return fixed, still
